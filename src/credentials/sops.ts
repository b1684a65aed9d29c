/**
 * SOPS files decrypted in-process, as `sops -d` does it. A SOPS file (YAML,
 * JSON, dotenv or INI — see sops-stores.ts) holds values that read
 * `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`: AES-256-GCM under one data key,
 * with the value's key path ("a:b:") as additional data. The data key is
 * wrapped for each recipient (age, PGP: sops-keys.ts). `sops.mac` is the
 * SHA-512 of the values in file order — every value, or with
 * `mac_only_encrypted: true` only the encrypted ones after the 32 bytes of
 * SHA-256("sops") — itself encrypted with `sops.lastmodified` as additional
 * data; we recompute it and refuse the file when it differs, as sops does.
 *
 * (npm `sops-age` was evaluated: it never checks the MAC, so a value swapped
 * in from another file would be accepted. Only the age part is delegated, to
 * `age-encryption` by the age author.)
 */
import { createDecipheriv, createHash, timingSafeEqual, type Hash } from 'node:crypto';
import { ErrorCode, IngotError } from '../errors.js';
import { recoverDataKey, type GpgOptions } from './sops-keys.js';
import { detectSopsFormat, readSopsFile, SopsFormatError, type SopsBranch, type SopsFormat, type SopsNode } from './sops-stores.js';

export { SOPS_FORMATS, type SopsFormat } from './sops-stores.js';
export type { GpgOptions } from './sops-keys.js';

/** A decrypted SOPS document: plain nested values in file order. */
export type SopsValue = string | number | boolean | null | Buffer | SopsValue[] | { [key: string]: SopsValue };

export interface DecryptSopsOptions {
  /** The file's format; default: from its extension as sops does, else from its text. */
  format?: SopsFormat;
  /** PGP recipients go through the user's gpg (agent, smartcard) unless this is false. */
  gpg?: GpgOptions | false;
  /** Where age identities were looked for (for the error when there are none). */
  ageTried?: readonly string[];
}

const ENC_RE = /^ENC\[AES256_GCM,data:([A-Za-z0-9+/=]*),iv:([A-Za-z0-9+/=]+),tag:([A-Za-z0-9+/=]+),type:([a-z]+)\]$/;
// sops.go MACOnlyEncryptedInitialization: the bytes of sha256("sops").
const MAC_ONLY_ENCRYPTED_INIT = createHash('sha256').update('sops').digest();
const RULES = [
  'unencrypted_suffix',
  'encrypted_suffix',
  'unencrypted_regex',
  'encrypted_regex',
  'unencrypted_comment_regex',
  'encrypted_comment_regex',
] as const;

/** Which values sops encrypted, from the metadata's one rule (sops.go shouldBeEncrypted). */
interface Rules {
  unencryptedSuffix?: string;
  encryptedSuffix?: string;
  unencryptedRegex?: RegExp;
  encryptedRegex?: RegExp;
  /** A comment rule: comments are not kept by our readers, so ENC[…] itself says it. */
  byForm: boolean;
}

interface Walk {
  key: Buffer;
  hash: Hash;
  macOnlyEncrypted: boolean;
  rules: Rules;
  file: string;
}

/** Decrypts a SOPS file's text with age identities ("AGE-SECRET-KEY-1…"), then gpg for PGP recipients. */
export async function decryptSops(text: string, identities: readonly string[], file: string, options: DecryptSopsOptions = {}): Promise<SopsValue> {
  const format = options.format ?? detectSopsFormat(file, text);
  let parsed;
  try {
    parsed = readSopsFile(text, format);
  } catch (error) {
    if (error instanceof SopsFormatError) throw invalid(file, error.message, 'encrypt it with `sops --encrypt --age <recipient>`');
    throw error;
  }
  const meta = parsed.metadata;
  const macOnlyEncrypted = goBool(meta.mac_only_encrypted, file, 'mac_only_encrypted');
  const rules = rulesOf(meta, file);
  const lastmodified = rfc3339(meta.lastmodified, file);
  const key = await recoverDataKey(meta, { ageIdentities: identities, ageTried: options.ageTried, gpg: options.gpg }, file);
  const hash = createHash('sha512');
  if (macOnlyEncrypted) hash.update(MAC_ONLY_ENCRYPTED_INIT);
  const walk: Walk = { key, hash, macOnlyEncrypted, rules, file };
  const out = branch(parsed.tree, [], walk);
  verifyMac(meta.mac, lastmodified, key, hash.digest('hex').toUpperCase(), file);
  return out;
}

function branch(node: SopsBranch, path: string[], walk: Walk): { [key: string]: SopsValue } {
  const out: { [key: string]: SopsValue } = {};
  for (const [k, v] of node) {
    // defineProperty: a key named __proto__ stays a plain key.
    Object.defineProperty(out, k, { value: value(v, [...path, k], walk), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function value(node: SopsNode, path: string[], walk: Walk): SopsValue {
  if (node instanceof Map) return branch(node, path, walk);
  // List items share their parent's path, as in sops.
  if (Array.isArray(node)) return node.map((item) => value(item, path, walk));
  if (node === null) return null;
  const encrypted = shouldBeEncrypted(path, node, walk.rules);
  let plain: SopsValue | bigint;
  if (encrypted) {
    if (typeof node !== 'string') throw invalid(walk.file, `the value at ${path.join('.')} should be encrypted but is a plain ${typeof node}`);
    // sops never encrypts an empty string.
    plain = node === '' ? '' : decryptValue(node, walk.key, `${path.join(':')}:`, walk.file, path.join('.'));
  } else {
    plain = node;
  }
  if (encrypted || !walk.macOnlyEncrypted) walk.hash.update(goBytes(plain));
  return typeof plain === 'bigint' ? bigintValue(plain) : plain;
}

function shouldBeEncrypted(path: string[], node: string | number | bigint | boolean, rules: Rules): boolean {
  if (rules.byForm) return typeof node === 'string' && node.startsWith('ENC[');
  let encrypted = true;
  if (rules.unencryptedSuffix !== undefined && path.some((p) => p.endsWith(rules.unencryptedSuffix!))) encrypted = false;
  if (rules.encryptedSuffix !== undefined) encrypted = path.some((p) => p.endsWith(rules.encryptedSuffix!));
  if (rules.unencryptedRegex && path.some((p) => rules.unencryptedRegex!.test(p))) encrypted = false;
  if (rules.encryptedRegex) encrypted = path.some((p) => rules.encryptedRegex!.test(p));
  return encrypted;
}

function rulesOf(meta: Record<string, unknown>, file: string): Rules {
  const set = RULES.filter((name) => typeof meta[name] === 'string' && meta[name] !== '');
  if (set.length > 1) throw invalid(file, `sops.${set.join(' and sops.')} are both set; sops allows one`);
  const text = (name: (typeof RULES)[number]) => (typeof meta[name] === 'string' && meta[name] !== '' ? (meta[name] as string) : undefined);
  const regex = (name: (typeof RULES)[number]) => {
    const source = text(name);
    if (source === undefined) return undefined;
    try {
      // Go's regexp.Match: an unanchored search (no 'u' flag: Go accepts `[\w-]`, 'u' mode does not).
      return new RegExp(source);
    } catch {
      throw invalid(file, `sops.${name} is not a regular expression ingot can read`);
    }
  };
  // Without any rule sops applies its default, unencrypted_suffix "_unencrypted".
  return {
    unencryptedSuffix: set.length === 0 ? '_unencrypted' : text('unencrypted_suffix'),
    encryptedSuffix: text('encrypted_suffix'),
    unencryptedRegex: regex('unencrypted_regex'),
    encryptedRegex: regex('encrypted_regex'),
    byForm: text('unencrypted_comment_regex') !== undefined || text('encrypted_comment_regex') !== undefined,
  };
}

// The value as sops' AES cipher returns it: typed from the `type:` field.
function decryptValue(text: string, key: Buffer, aad: string, file: string, where: string): SopsValue | bigint {
  const { bytes, type } = openValue(text, key, aad, file, where);
  const plain = bytes.toString('utf8');
  switch (type) {
    case 'str':
    case 'time':
      return plain;
    case 'bytes':
      return bytes;
    case 'int':
      // strconv.Atoi: an optional sign and decimal digits, within int64.
      if (!/^[+-]?\d+$/.test(plain) || BigInt(plain) > 2n ** 63n - 1n || BigInt(plain) < -(2n ** 63n))
        throw invalid(file, `the value at ${where} is not an integer`);
      return BigInt(plain);
    case 'float': {
      const n = goParseFloat(plain);
      if (n === undefined) throw invalid(file, `the value at ${where} is not a number`);
      return n;
    }
    case 'bool': {
      // strconv.ParseBool.
      if (GO_TRUE.includes(plain)) return true;
      if (GO_FALSE.includes(plain)) return false;
      throw invalid(file, `the value at ${where} is not a boolean`);
    }
    default:
      throw invalid(file, `unknown value type "${type}" at ${where}`);
  }
}

const GO_TRUE = ['1', 't', 'T', 'TRUE', 'true', 'True'];
const GO_FALSE = ['0', 'f', 'F', 'FALSE', 'false', 'False'];

function openValue(text: string, key: Buffer, aad: string, file: string, where: string): { bytes: Buffer; type: string } {
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

// strconv.ParseFloat's accepted forms (decimal, underscores, inf, nan).
function goParseFloat(text: string): number | undefined {
  if (/^[+-]?(inf|infinity)$/i.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  if (/^nan$/i.test(text)) return NaN;
  if (!/^[+-]?(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][+-]?\d+)?$/.test(text)) return undefined;
  const n = Number(text.replaceAll('_', ''));
  return Number.isNaN(n) ? undefined : n;
}

/** sops.go ToBytes: how a value enters the MAC. */
function goBytes(value: SopsValue | bigint): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'boolean') return Buffer.from(value ? 'True' : 'False');
  if (typeof value === 'bigint') return Buffer.from(value.toString());
  if (typeof value === 'number') return Buffer.from(goFloat(value));
  return Buffer.from(String(value), 'utf8');
}

/** strconv.FormatFloat(f, 'f', -1, 64): the shortest digits that round-trip, never an exponent. */
export function goFloat(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  if (Object.is(n, -0)) return '-0';
  const text = String(n);
  const exp = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!exp) return text;
  const [, sign = '', lead = '', frac = '', power = '0'] = exp;
  const digits = lead + frac;
  const point = 1 + Number(power);
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

function bigintValue(n: bigint): number | string {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

// strconv.ParseBool, as sops reads mac_only_encrypted (a string in dotenv and INI files).
function goBool(value: unknown, file: string, name: string): boolean {
  if (value === undefined || value === null || value === '') return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    if (GO_TRUE.includes(value)) return true;
    if (GO_FALSE.includes(value)) return false;
  }
  throw invalid(file, `sops.${name} is not a boolean`);
}

/**
 * sops parses lastmodified as RFC 3339 and authenticates the MAC with
 * time.Format(RFC3339) of it: no fractional seconds, "Z" for a zero offset.
 */
function rfc3339(value: unknown, file: string): string {
  const match = typeof value === 'string' ? /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(value) : null;
  if (!match) throw invalid(file, 'the file has no valid sops.lastmodified', 'a SOPS file without sops.mac and sops.lastmodified cannot be trusted');
  const zone = match[2] === '+00:00' || match[2] === '-00:00' ? 'Z' : match[2];
  return `${match[1]}${zone}`;
}

function verifyMac(mac: unknown, lastmodified: string, key: Buffer, computed: string, file: string): void {
  if (typeof mac !== 'string') {
    throw invalid(file, 'the file has no MAC', 'a SOPS file without sops.mac and sops.lastmodified cannot be trusted');
  }
  const { bytes } = openValue(mac, key, lastmodified, file, 'sops.mac');
  const stored = Buffer.from(bytes.toString('utf8'));
  const mine = Buffer.from(computed);
  if (stored.length !== mine.length || !timingSafeEqual(stored, mine)) {
    throw invalid(file, 'the MAC does not match the values (the file was modified after encryption)');
  }
}

function invalid(file: string, reason: string, hint?: string): IngotError {
  return new IngotError(ErrorCode.credentialsInvalid, `cannot decrypt SOPS file ${file}: ${reason}`, {
    path: file,
    hint: hint ?? 're-encrypt the file with sops, and check you have the right file',
  });
}
