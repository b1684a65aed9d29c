/**
 * Writes SOPS files for tests the way sops 3.8 does: AES-256-GCM per value
 * with the key path as AAD, a SHA-512 MAC over the plaintexts encrypted with
 * `lastmodified` as AAD, the data key wrapped by the real `age` CLI and, for
 * PGP recipients, by the real `gpg`. YAML, JSON, dotenv and INI layouts.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { run } from '../../src/exec/run.js';

type Plain = string | number | boolean | Plain[] | { [key: string]: Plain };

export interface WriteSopsOptions {
  /** PGP recipients: the key's fingerprint and the environment (GNUPGHOME) of the gpg that holds it. */
  pgp?: { fingerprint: string; env: NodeJS.ProcessEnv }[];
  /** sops --mac-only-encrypted; values whose key ends in `_unencrypted` stay in clear. */
  macOnlyEncrypted?: boolean;
  /**
   * sops' encrypted_regex: only values under a key that matches are encrypted
   * (as in e2.sops.yaml files whose endpoint and bucket stay readable); the
   * others stay in clear but still count for the MAC.
   */
  encryptedRegex?: string;
}

function enc(plaintext: Buffer, key: Buffer, aad: string, type: string): string {
  const iv = randomBytes(32);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const data = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return `ENC[AES256_GCM,data:${data.toString('base64')},iv:${iv.toString('base64')},tag:${cipher.getAuthTag().toString('base64')},type:${type}]`;
}

type Encrypts = (path: string[]) => boolean;

function walk(value: Plain, path: string[], key: Buffer, hash: ReturnType<typeof createHash>, macOnlyEncrypted: boolean, encrypts: Encrypts): unknown {
  if (Array.isArray(value)) return value.map((v) => walk(v, path, key, hash, macOnlyEncrypted, encrypts));
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = walk(v, [...path, k], key, hash, macOnlyEncrypted, encrypts);
    return out;
  }
  const [text, type] =
    typeof value === 'boolean'
      ? [value ? 'True' : 'False', 'bool']
      : typeof value === 'number'
        ? [String(value), Number.isInteger(value) ? 'int' : 'float']
        : [value, 'str'];
  const bytes = Buffer.from(text);
  const clear = !encrypts(path);
  if (!clear || !macOnlyEncrypted) hash.update(bytes);
  return clear ? value : enc(bytes, key, `${path.join(':')}:`, type);
}

/** A SOPS document (YAML, JSON, dotenv or INI text) for `data`, readable by the age identities of `recipients`. */
export async function writeSops(
  data: { [key: string]: Plain },
  recipients: string[],
  format: 'yaml' | 'json' | 'dotenv' | 'ini' = 'yaml',
  options: WriteSopsOptions = {},
): Promise<string> {
  const dataKey = randomBytes(32);
  const hash = createHash('sha512');
  if (options.macOnlyEncrypted) hash.update(createHash('sha256').update('sops').digest());
  const regex = options.encryptedRegex === undefined ? undefined : new RegExp(options.encryptedRegex);
  const encrypts: Encrypts = regex ? (path) => path.some((k) => regex.test(k)) : (path) => !path.some((k) => k.endsWith('_unencrypted'));
  const tree = walk(data, [], dataKey, hash, options.macOnlyEncrypted ?? false, encrypts) as Record<string, unknown>;
  const lastmodified = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const age = [];
  for (const recipient of recipients) {
    const wrapped = await run('age', ['--encrypt', '--armor', '--recipient', recipient], { input: dataKey, timeoutMs: 10_000 });
    age.push({ recipient, enc: wrapped.stdout });
  }
  const pgp = [];
  for (const { fingerprint, env } of options.pgp ?? []) {
    const wrapped = await run('gpg', ['--batch', '--quiet', '--trust-model', 'always', '--encrypt', '--armor', '--recipient', fingerprint], {
      input: dataKey,
      env,
      timeoutMs: 30_000,
    });
    pgp.push({ created_at: lastmodified, enc: wrapped.stdout, fp: fingerprint });
  }
  const sops: Record<string, unknown> = {
    kms: [],
    age,
    ...(pgp.length ? { pgp } : {}),
    lastmodified,
    mac: enc(Buffer.from(hash.digest('hex').toUpperCase()), dataKey, lastmodified, 'str'),
    ...(options.encryptedRegex === undefined ? { unencrypted_suffix: '_unencrypted' } : { encrypted_regex: options.encryptedRegex }),
    ...(options.macOnlyEncrypted ? { mac_only_encrypted: true } : {}),
    version: '3.8.1',
  };
  if (format === 'json') return JSON.stringify({ ...tree, sops }, null, 2);
  if (format === 'yaml') return stringify({ ...tree, sops });
  // The flat formats: metadata flattened as sops does (age__list_0__map_enc), newlines escaped.
  const flat = flatten(sops);
  if (format === 'dotenv') {
    const lines = Object.entries(tree).map(([k, v]) => `${k}=${String(v).replaceAll('\n', '\\n')}`);
    for (const [k, v] of Object.entries(flat)) lines.push(`sops_${k}=${v.replaceAll('\n', '\\n')}`);
    return `${lines.join('\n')}\n`;
  }
  const lines: string[] = [];
  for (const [section, values] of Object.entries(tree)) {
    lines.push(`[${section}]`);
    for (const [k, v] of Object.entries(values as Record<string, unknown>)) lines.push(`${k} = ${String(v)}`);
    lines.push('');
  }
  lines.push('[sops]');
  for (const [k, v] of Object.entries(flat)) lines.push(`${k} = ${v.replaceAll('\n', '\\n')}`);
  return `${lines.join('\n')}\n`;
}

function flatten(value: unknown, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) Object.assign(out, flatten(item, `${prefix}__list_${i}`));
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) Object.assign(out, flatten(v, prefix ? `${prefix}__map_${k}` : k));
  } else {
    out[prefix] = String(value);
  }
  return out;
}

/** A new age identity from the real `age-keygen`: the key file text and its recipient. */
export async function ageKeygen(): Promise<{ keyFile: string; identity: string; recipient: string }> {
  const out = await run('age-keygen', [], { timeoutMs: 10_000 });
  const identity = out.stdout.split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-'));
  const recipient = /public key: (age1[0-9a-z]+)/.exec(out.stdout + out.stderr)?.[1];
  if (!identity || !recipient) throw new Error(`unexpected age-keygen output`);
  return { keyFile: out.stdout, identity, recipient };
}
