/**
 * minisign's three file formats as pure codecs (no crypto, no I/O):
 *
 *   public key   "untrusted comment: …\n" base64("Ed" keyid[8] pk[32])
 *   secret key   "untrusted comment: …\n" base64("Ed" kdf[2] "B2" salt[32]
 *                 opslimit[8 LE] memlimit[8 LE] keyid[8] sk[64] chk[32])
 *                 where kdf is "Sc" (scrypt, the last 104 bytes XOR-encrypted)
 *                 or two zero bytes (unencrypted)
 *   signature    "untrusted comment: …\n" base64(alg[2] keyid[8] sig[64])
 *                "\ntrusted comment: …\n" base64(global_sig[64]) "\n"
 *                alg "ED" signs BLAKE2b-512(file); legacy "Ed" signs the file.
 *
 * Key ids print like minisign: the 8 bytes as a little-endian uint64 in hex.
 */
import { ErrorCode, ExitCode, IngotError } from '../errors.js';

/** Line prefixes of minisign files. */
export const UNTRUSTED_PREFIX = 'untrusted comment: ';
export const TRUSTED_PREFIX = 'trusted comment: ';
const KEYNUM_SK_BYTES = 104;
const SECRET_KEY_BYTES = 2 + 2 + 2 + 32 + 8 + 8 + KEYNUM_SK_BYTES;
/** minisign's limit on a trusted comment line (TRUSTEDCOMMENTMAXBYTES minus the prefix). */
export const TRUSTED_COMMENT_MAX = 8192 - TRUSTED_PREFIX.length - 1;

/** A public key: its 8-byte id and the 32-byte ed25519 key. */
export interface PublicKey {
  keyId: Buffer;
  key: Buffer;
}

/** A secret key file as stored (possibly encrypted). */
export interface SecretKeyRecord {
  kdf: 'scrypt' | 'none';
  salt: Buffer;
  opslimit: bigint;
  memlimit: bigint;
  /** keyid[8] sk[64] chk[32], XOR-encrypted when kdf is scrypt. */
  keynumSk: Buffer;
}

/** A parsed signature file. */
export interface SignatureRecord {
  untrustedComment: string;
  /** "ED" = prehashed (BLAKE2b-512), "Ed" = legacy (the raw bytes). */
  algorithm: 'ED' | 'Ed';
  keyId: Buffer;
  signature: Buffer;
  trustedComment: string;
  globalSignature: Buffer;
}

/** minisign's key id notation: 16 uppercase hex digits of the little-endian uint64. */
export function keyIdHex(keyId: Buffer): string {
  return Buffer.from(keyId).reverse().toString('hex').toUpperCase();
}

/** The base64 line of a public key (what `minisign -P` takes). */
export function publicKeyLine(pk: PublicKey): string {
  return Buffer.concat([Buffer.from('Ed'), pk.keyId, pk.key]).toString('base64');
}

/** A public key file, byte-for-byte as `minisign -G` writes it. */
export function encodePublicKey(pk: PublicKey): string {
  return `${UNTRUSTED_PREFIX}minisign public key ${keyIdHex(pk.keyId)}\n${publicKeyLine(pk)}\n`;
}

/** Parses a public key file, or a bare base64 key line. */
export function decodePublicKey(text: string, where = 'public key'): PublicKey {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const line = lines[0]?.startsWith(UNTRUSTED_PREFIX) ? lines[1] : lines[0];
  const raw = strictBase64(line ?? '');
  if (!raw || raw.length !== 42 || raw.subarray(0, 2).toString('latin1') !== 'Ed') {
    throw keyError(`${where}: expected a minisign public key ("untrusted comment: …" then base64 of 42 bytes starting "Ed")`);
  }
  return { keyId: raw.subarray(2, 10), key: raw.subarray(10, 42) };
}

/** A secret key file, as `minisign -G` writes it. */
export function encodeSecretKey(record: SecretKeyRecord, comment?: string): string {
  const buf = Buffer.alloc(SECRET_KEY_BYTES);
  buf.write('Ed', 0, 'latin1');
  if (record.kdf === 'scrypt') buf.write('Sc', 2, 'latin1');
  buf.write('B2', 4, 'latin1');
  record.salt.copy(buf, 6);
  buf.writeBigUInt64LE(record.opslimit, 38);
  buf.writeBigUInt64LE(record.memlimit, 46);
  record.keynumSk.copy(buf, 54);
  const text = comment ?? (record.kdf === 'scrypt' ? 'minisign encrypted secret key' : 'minisign secret key');
  return `${UNTRUSTED_PREFIX}${text}\n${buf.toString('base64')}\n`;
}

/** Parses a secret key file (does not decrypt). */
export function decodeSecretKey(text: string, where = 'secret key'): SecretKeyRecord {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  if (!lines[0]?.startsWith(UNTRUSTED_PREFIX)) throw keyError(`${where}: expected a minisign secret key starting "untrusted comment:"`);
  const raw = strictBase64(lines[1] ?? '');
  if (!raw || raw.length !== SECRET_KEY_BYTES) throw keyError(`${where}: expected base64 of ${SECRET_KEY_BYTES} bytes on line 2`);
  if (raw.subarray(0, 2).toString('latin1') !== 'Ed') throw keyError(`${where}: unsupported signature algorithm`);
  if (raw.subarray(4, 6).toString('latin1') !== 'B2') throw keyError(`${where}: unsupported checksum function`);
  const kdf = raw.subarray(2, 4);
  let kind: SecretKeyRecord['kdf'];
  if (kdf.toString('latin1') === 'Sc') kind = 'scrypt';
  else if (kdf[0] === 0 && kdf[1] === 0) kind = 'none';
  else throw keyError(`${where}: unsupported key derivation function`);
  return {
    kdf: kind,
    salt: raw.subarray(6, 38),
    opslimit: raw.readBigUInt64LE(38),
    memlimit: raw.readBigUInt64LE(46),
    keynumSk: Buffer.from(raw.subarray(54)),
  };
}

/** A signature file, as `minisign -S` writes it. */
export function encodeSignature(sig: SignatureRecord): string {
  for (const [name, value] of [
    ['untrusted', sig.untrustedComment],
    ['trusted', sig.trustedComment],
  ] as const) {
    if (/[\r\n]/.test(value)) throw new IngotError(ErrorCode.usage, `${name} comment must be one line`, { exitCode: ExitCode.usage });
  }
  if (Buffer.byteLength(sig.trustedComment) > TRUSTED_COMMENT_MAX) {
    throw new IngotError(ErrorCode.usage, 'trusted comment too long for minisign', { exitCode: ExitCode.usage });
  }
  const body = Buffer.concat([Buffer.from(sig.algorithm, 'latin1'), sig.keyId, sig.signature]).toString('base64');
  return (
    `${UNTRUSTED_PREFIX}${sig.untrustedComment}\n${body}\n` +
    `${TRUSTED_PREFIX}${sig.trustedComment}\n${sig.globalSignature.toString('base64')}\n`
  );
}

/** Parses a signature file; throws INGOT_SIGNATURE_MALFORMED. */
export function decodeSignature(text: string, where = 'signature'): SignatureRecord {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const [untrusted, body, trusted, global] = lines;
  if (!untrusted?.startsWith(UNTRUSTED_PREFIX)) throw sigError(`${where}: line 1 must start with "${UNTRUSTED_PREFIX}"`);
  if (!trusted?.startsWith(TRUSTED_PREFIX)) throw sigError(`${where}: line 3 must start with "${TRUSTED_PREFIX}"`);
  const raw = strictBase64((body ?? '').trim());
  if (!raw || raw.length !== 74) throw sigError(`${where}: line 2 must be base64 of 74 bytes`);
  const algorithm = raw.subarray(0, 2).toString('latin1');
  if (algorithm !== 'ED' && algorithm !== 'Ed') throw sigError(`${where}: unsupported signature algorithm "${algorithm}"`);
  const globalSignature = strictBase64((global ?? '').trim());
  if (!globalSignature || globalSignature.length !== 64) throw sigError(`${where}: line 4 must be base64 of 64 bytes`);
  return {
    untrustedComment: untrusted.slice(UNTRUSTED_PREFIX.length),
    algorithm,
    keyId: raw.subarray(2, 10),
    signature: raw.subarray(10, 74),
    // minisign strips only the line ending (done by the split above), never spaces or tabs.
    trustedComment: trusted.slice(TRUSTED_PREFIX.length),
    globalSignature,
  };
}

/** Decodes standard base64, rejecting anything node would silently skip. */
function strictBase64(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  return Buffer.from(text, 'base64');
}

function keyError(message: string): IngotError {
  return new IngotError(ErrorCode.keyInvalid, message, { hint: 'pass a file written by `ingot keys generate` or `minisign -G`', exitCode: ExitCode.usage });
}

function sigError(message: string): IngotError {
  return new IngotError(ErrorCode.signatureMalformed, message, { hint: 'the signature file is damaged or not a minisign signature' });
}
