/**
 * Recovering a SOPS file's data key, in sops' order: the age recipients with
 * the age identities we were given (in-process, `age-encryption`), then the
 * PGP recipients through the user's own `gpg` — so gpg-agent, its pinentry
 * and smartcards (a YubiKey) work exactly as they do for `sops -d`. When
 * nothing opens the file the error names every recipient and what was tried,
 * never a key.
 */
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { run } from '../exec/run.js';

/** How to reach the user's gpg. */
export interface GpgOptions {
  /** Environment for gpg (GNUPGHOME, GPG_TTY, PATH); default: this process's. */
  env?: NodeJS.ProcessEnv;
  /** The gpg program; default `$SOPS_GPG_EXEC` from `env`, else `gpg` (as sops). */
  command?: string;
  /** A smartcard PIN prompt may take a while. Default 120 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface KeySources {
  /** "AGE-SECRET-KEY-1…" lines. */
  ageIdentities: readonly string[];
  /** Where the identities were looked for, for the error when there are none. */
  ageTried?: readonly string[];
  /** PGP recipients are decrypted through gpg unless this is false. */
  gpg?: GpgOptions | false;
}

interface Stanzas {
  age: { recipient?: string; enc?: string }[];
  pgp: { fp?: string; enc?: string }[];
  others: string[];
}

const OTHER_KEY_TYPES = ['kms', 'gcp_kms', 'azure_kv', 'hc_vault'] as const;

/** The 32-byte data key of a file whose `sops` section is `meta`. */
export async function recoverDataKey(meta: Record<string, unknown>, sources: KeySources, file: string): Promise<Buffer> {
  const stanzas = recipientsOf(meta, file);
  if (stanzas.age.length === 0 && stanzas.pgp.length === 0) {
    throw invalid(
      file,
      `the file has no age or PGP recipients${stanzas.others.length ? ` (only ${stanzas.others.join(', ')}, which ingot does not use)` : ''}`,
      're-encrypt it for an age recipient: sops --encrypt --age age1…',
    );
  }
  if (sources.ageIdentities.length === 0 && stanzas.pgp.length === 0) {
    throw new IngotError(ErrorCode.credentialsMissing, `no age identity to decrypt ${file}`, {
      path: file,
      hint: `give the age key with --sops-age-key-file, SOPS_AGE_KEY_FILE or SOPS_AGE_KEY${sources.ageTried?.length ? ` (looked in: ${sources.ageTried.join('; ')})` : ''}`,
      exitCode: ExitCode.usage,
      details: { recipients: stanzas.age.map((s) => s.recipient).filter(Boolean) },
    });
  }
  const notes: string[] = [];
  const viaAge = await tryAge(stanzas.age, sources.ageIdentities);
  if (viaAge) return viaAge;
  if (stanzas.age.length > 0)
    notes.push(
      sources.ageIdentities.length === 0
        ? 'age: no identity given'
        : `age: none of ${sources.ageIdentities.length} identit${sources.ageIdentities.length === 1 ? 'y' : 'ies'} matches`,
    );
  if (stanzas.pgp.length > 0) {
    if (sources.gpg === false) {
      notes.push('PGP: not tried (gpg disabled)');
    } else {
      const viaGpg = await tryGpg(stanzas.pgp, sources.gpg ?? {}, notes);
      if (viaGpg) return viaGpg;
    }
  }
  const recipients = [
    ...stanzas.age.map((s) => s.recipient ?? '(age recipient without a name)'),
    ...stanzas.pgp.map((s) => `PGP ${s.fp ?? '(no fingerprint)'}`),
  ];
  const what = stanzas.pgp.length > 0 ? 'no age identity or PGP key' : 'no age identity';
  throw new IngotError(ErrorCode.credentialsInvalid, `${what} can decrypt ${file}`, {
    path: file,
    hint:
      `the file is encrypted for ${recipients.join(', ')}; ` +
      (stanzas.pgp.length > 0
        ? 'give the matching age key (--sops-age-key-file, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY) or make the PGP key available to gpg (gpg --card-status for a smartcard)'
        : 'give the matching key with --sops-age-key-file, SOPS_AGE_KEY_FILE or SOPS_AGE_KEY') +
      (notes.length ? ` (tried: ${notes.join('; ')})` : ''),
    details: { recipients, tried: notes },
  });
}

// Recipients from the top level, or from the single key group of a file written with key_groups.
function recipientsOf(meta: Record<string, unknown>, file: string): Stanzas {
  let holder = meta;
  const groups = meta.key_groups;
  if (Array.isArray(groups) && groups.length > 0) {
    if (groups.length > 1) {
      throw invalid(
        file,
        `the data key is split across ${groups.length} key groups (Shamir), which ingot does not support`,
        're-encrypt the file with a single key group',
      );
    }
    if (typeof groups[0] !== 'object' || groups[0] === null) throw invalid(file, 'sops.key_groups[0] is not a mapping');
    holder = groups[0] as Record<string, unknown>;
  }
  const list = <T>(name: string): T[] => {
    const value = holder[name];
    if (value === undefined || value === null || value === '') return [];
    if (!Array.isArray(value) || !value.every((entry) => typeof entry === 'object' && entry !== null && !Array.isArray(entry))) {
      throw invalid(file, `sops.${name} must be a list of mappings`);
    }
    return value as T[];
  };
  return {
    age: list('age'),
    pgp: list('pgp'),
    others: OTHER_KEY_TYPES.filter((name) => Array.isArray(holder[name]) && (holder[name] as unknown[]).length > 0),
  };
}

async function tryAge(stanzas: Stanzas['age'], identities: readonly string[]): Promise<Buffer | undefined> {
  if (stanzas.length === 0 || identities.length === 0) return undefined;
  const { Decrypter, armor } = await import('age-encryption');
  const decrypter = new Decrypter();
  identities.forEach((identity, i) => {
    try {
      decrypter.addIdentity(identity);
    } catch {
      // Never echo the library's message: it contains the key itself.
      throw new IngotError(ErrorCode.credentialsInvalid, `age identity #${i + 1} is not a valid AGE-SECRET-KEY (a typo or a truncated key?)`, {
        hint: 'check the key given with --sops-age-key-file, SOPS_AGE_KEY_FILE or SOPS_AGE_KEY; age-keygen -y KEYFILE prints its recipient when it is valid',
        exitCode: ExitCode.usage,
      });
    }
  });
  for (const stanza of stanzas) {
    if (typeof stanza.enc !== 'string') continue;
    try {
      const key = await decrypter.decrypt(armor.decode(stanza.enc.trim()), 'uint8array');
      if (key.length === 32) return Buffer.from(key);
    } catch {
      // Not for one of our identities: try the next recipient.
    }
  }
  return undefined;
}

// As sops' pgp key source: the armored `enc` on gpg's stdin, the raw data key on its stdout.
async function tryGpg(stanzas: Stanzas['pgp'], options: GpgOptions, notes: string[]): Promise<Buffer | undefined> {
  const command = options.command ?? options.env?.SOPS_GPG_EXEC ?? 'gpg';
  for (const stanza of stanzas) {
    const who = `PGP ${stanza.fp ?? '(no fingerprint)'}`;
    if (typeof stanza.enc !== 'string' || !stanza.enc.includes('-----BEGIN PGP MESSAGE-----')) {
      notes.push(`${who}: no armored PGP message in the file`);
      continue;
    }
    try {
      const result = await run(command, ['--batch', '--quiet', '--decrypt'], {
        env: options.env,
        input: stanza.enc,
        binaryStdout: true,
        reject: false,
        timeoutMs: options.timeoutMs ?? 120_000,
        signal: options.signal,
        maxBuffer: 4096,
      });
      const key = result.stdoutBytes;
      if (result.exitCode === 0 && key?.length === 32) return key;
      const said = result.stderr.trim().split('\n').filter(Boolean).pop();
      notes.push(
        `${who}: ${result.timedOut ? 'gpg timed out' : `gpg ${result.exitCode === 0 ? 'returned no 32-byte key' : `failed${said ? ` (${said})` : ''}`}`}`,
      );
    } catch (error) {
      if (error instanceof IngotError && error.code === ErrorCode.aborted) throw error;
      // gpg is not installed: say so once and stop trying.
      notes.push(`PGP: ${command} is not available (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`);
      return undefined;
    }
  }
  return undefined;
}

function invalid(file: string, reason: string, hint?: string): IngotError {
  return new IngotError(ErrorCode.credentialsInvalid, `cannot decrypt SOPS file ${file}: ${reason}`, {
    path: file,
    hint: hint ?? 're-encrypt the file with sops, and check you have the right file',
  });
}
