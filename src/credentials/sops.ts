/**
 * SOPS files decrypted in-process (the age flavour). A SOPS file is YAML or
 * JSON whose leaf values read `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`:
 * AES-256-GCM under one data key, with the value's key path ("a:b:") as
 * additional data. The data key is wrapped for each age recipient under
 * `sops.age[].enc`. `sops.mac` is the SHA-512 of every plaintext value in file
 * order, itself encrypted with `sops.lastmodified` as additional data; we
 * recompute it and refuse the file when it differs, as sops does.
 *
 * (npm `sops-age` was evaluated: it never checks the MAC, so a value swapped
 * in from another file would be accepted. Only the age part is delegated, to
 * `age-encryption` by the age author.)
 */
import { createDecipheriv, createHash, timingSafeEqual } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { ErrorCode, IngotError } from '../errors.js';

/** A decrypted SOPS document: plain nested values in file order. */
export type SopsValue = string | number | boolean | null | Buffer | SopsValue[] | { [key: string]: SopsValue };

const ENC_RE = /^ENC\[AES256_GCM,data:([A-Za-z0-9+/=]*),iv:([A-Za-z0-9+/=]+),tag:([A-Za-z0-9+/=]+),type:([a-z]+)\]$/;

interface SopsMeta {
  mac?: string;
  lastmodified?: string;
  age?: { recipient?: string; enc?: string }[];
  mac_only_encrypted?: boolean;
}

/** Decrypts a SOPS file's text with age identities ("AGE-SECRET-KEY-1…"). */
export async function decryptSops(text: string, identities: readonly string[], file: string): Promise<SopsValue> {
  const doc = parseDocument(text, file);
  const metaRaw = doc.get('sops');
  if (!(metaRaw instanceof Map)) {
    throw invalid(file, 'not a SOPS file (no "sops" section)', 'encrypt it with `sops --encrypt --age <recipient>`');
  }
  const meta = Object.fromEntries(plain(metaRaw) as Iterable<[string, unknown]>) as SopsMeta;
  const dataKey = await unwrapDataKey(meta, identities, file);
  const hash = createHash('sha512');
  const macAll = meta.mac_only_encrypted !== true;
  const out: { [key: string]: SopsValue } = {};
  for (const [key, value] of doc) {
    if (key === 'sops') continue;
    out[String(key)] = walk(value, [String(key)], dataKey, hash, macAll, file);
  }
  // YAML comments count for sops' MAC, but the parser drops them: say so rather than "tampered".
  const comments = /^\s*#/m.test(text) && !text.trimStart().startsWith('{');
  verifyMac(meta, dataKey, hash.digest('hex').toUpperCase(), file, comments);
  return out;
}

function parseDocument(text: string, file: string): Map<unknown, unknown> {
  let doc: unknown;
  try {
    // mapAsMap keeps key order exactly as written (the MAC depends on it); JSON is YAML too.
    doc = parseYaml(text, { mapAsMap: true, uniqueKeys: true, maxAliasCount: 0 });
  } catch (error) {
    throw invalid(file, `cannot parse: ${(error as Error).message.split('\n')[0]}`);
  }
  if (!(doc instanceof Map)) throw invalid(file, 'expected a mapping at the top level');
  return doc;
}

function plain(value: unknown): unknown {
  if (value instanceof Map) return [...value].map(([k, v]) => [String(k), plain(v)]);
  if (Array.isArray(value)) return value.map(plain);
  return value;
}

async function unwrapDataKey(meta: SopsMeta, identities: readonly string[], file: string): Promise<Buffer> {
  const stanzas = (Array.isArray(meta.age) ? meta.age : []).map((entry) => {
    // Each recipient is a mapping (parsed as [key, value] pairs); anything else is a broken file.
    if (!Array.isArray(entry) || !entry.every((pair) => Array.isArray(pair) && pair.length === 2)) {
      throw invalid(file, 'sops.age must be a list of mappings with "recipient" and "enc"');
    }
    return Object.fromEntries(entry as [string, unknown][]);
  }) as { recipient?: string; enc?: string }[];
  if (stanzas.length === 0) {
    throw invalid(file, 'the file has no age recipients', 'ingot decrypts SOPS files encrypted for age only');
  }
  const { Decrypter, armor } = await import('age-encryption');
  const decrypter = new Decrypter();
  identities.forEach((identity, i) => {
    try {
      decrypter.addIdentity(identity);
    } catch {
      // Never echo the library's message: it contains the key itself.
      throw new IngotError(ErrorCode.credentialsInvalid, `age identity #${i + 1} is not a valid AGE-SECRET-KEY (a typo or a truncated key?)`, {
        hint: 'check the key given with --sops-age-key-file, SOPS_AGE_KEY_FILE or SOPS_AGE_KEY; age-keygen -y KEYFILE prints its recipient when it is valid',
        exitCode: 2,
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
  const recipients = stanzas.map((s) => s.recipient).filter(Boolean).join(', ');
  throw new IngotError(ErrorCode.credentialsInvalid, `no age identity can decrypt ${file}`, {
    path: file,
    hint: `the file is encrypted for ${recipients || 'unknown recipients'}; give the matching key with --sops-age-key-file, SOPS_AGE_KEY_FILE or SOPS_AGE_KEY`,
  });
}

function walk(value: unknown, path: string[], key: Buffer, hash: ReturnType<typeof createHash>, macAll: boolean, file: string): SopsValue {
  if (value instanceof Map) {
    const out: { [key: string]: SopsValue } = {};
    for (const [k, v] of value) out[String(k)] = walk(v, [...path, String(k)], key, hash, macAll, file);
    return out;
  }
  // List items share their parent's path, as in sops.
  if (Array.isArray(value)) return value.map((item) => walk(item, path, key, hash, macAll, file));
  if (typeof value === 'string' && value.startsWith('ENC[')) {
    const { bytes, type } = decryptValue(value, key, `${path.join(':')}:`, file, path.join('.'));
    hash.update(bytes);
    return typed(bytes, type, file, path.join('.'));
  }
  // A value left in clear (unencrypted_suffix and friends) still counts for the MAC.
  if (macAll && value !== null && value !== undefined) hash.update(goBytes(value));
  return (value ?? null) as SopsValue;
}

function decryptValue(text: string, key: Buffer, aad: string, file: string, where: string): { bytes: Buffer; type: string } {
  const match = ENC_RE.exec(text);
  if (!match) throw invalid(file, `malformed encrypted value at ${where}`);
  const [, data = '', iv = '', tag = '', type = ''] = match;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return { bytes: Buffer.concat([decipher.update(Buffer.from(data, 'base64')), decipher.final()]), type };
  } catch {
    throw invalid(file, `the value at ${where} fails authentication (tampered or from another file)`);
  }
}

function typed(bytes: Buffer, type: string, file: string, where: string): SopsValue {
  const text = bytes.toString('utf8');
  switch (type) {
    case 'str':
    case 'comment':
      return text;
    case 'int':
    case 'float': {
      const n = Number(text);
      if (!Number.isFinite(n)) throw invalid(file, `the value at ${where} is not a number`);
      return n;
    }
    case 'bool':
      // sops writes "True"/"False" (its Python heritage).
      return text.toLowerCase() === 'true';
    case 'bytes':
      return bytes;
    default:
      throw invalid(file, `unknown value type "${type}" at ${where}`);
  }
}

// How sops (Go) turns a clear value into bytes for the MAC.
function goBytes(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'boolean') return Buffer.from(value ? 'True' : 'False');
  return Buffer.from(String(value), 'utf8');
}

function verifyMac(meta: SopsMeta, key: Buffer, computed: string, file: string, comments: boolean): void {
  if (typeof meta.mac !== 'string' || typeof meta.lastmodified !== 'string') {
    throw invalid(file, 'the file has no MAC', 'a SOPS file without sops.mac and sops.lastmodified cannot be trusted');
  }
  const { bytes } = decryptValue(meta.mac, key, meta.lastmodified, file, 'sops.mac');
  const stored = Buffer.from(bytes.toString('utf8').toUpperCase());
  const mine = Buffer.from(computed);
  if (stored.length !== mine.length || !timingSafeEqual(stored, mine)) {
    throw invalid(
      file,
      'the MAC does not match the values (the file was modified after encryption)',
      comments ? 'ingot does not read YAML comments in SOPS files: remove the comments and re-encrypt with sops' : undefined,
    );
  }
}

function invalid(file: string, reason: string, hint?: string): IngotError {
  return new IngotError(ErrorCode.credentialsInvalid, `cannot decrypt SOPS file ${file}: ${reason}`, {
    path: file,
    hint: hint ?? 're-encrypt the file with sops, and check you have the right file',
  });
}
