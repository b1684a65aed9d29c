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

/*
 * minisign's limits (minisign.h, minisign.c). It reads each line with
 * fgets() into a fixed buffer and refuses a line whose newline does not fit:
 * COMMENTMAXBYTES (1024) for the untrusted comment line of every file,
 * TRUSTEDCOMMENTMAXBYTES (8192) for the trusted comment line. So a line,
 * prefix and newline included, is at most 1023 / 8191 bytes, and what
 * `minisign -S` can write is a comment of at most 1003 / 8173 bytes.
 * Passwords are read into PASSWORDMAXBYTES (1024): at most 1023 bytes.
 */
/** Longest untrusted comment line minisign reads: 1023 bytes with its newline. */
export const COMMENT_LINE_MAX = 1024 - 1;
/** Longest trusted comment line minisign reads: 8191 bytes with its newline. */
export const TRUSTED_COMMENT_LINE_MAX = 8192 - 1;
/** Longest untrusted comment ingot writes (minisign can read it back). */
export const UNTRUSTED_COMMENT_MAX = COMMENT_LINE_MAX - UNTRUSTED_PREFIX.length - 1;
/** Longest trusted comment: minisign -S refuses more, minisign -V cannot read more. */
export const TRUSTED_COMMENT_MAX = TRUSTED_COMMENT_LINE_MAX - TRUSTED_PREFIX.length - 1;
/** Longest password minisign reads (it truncates longer input). */
export const PASSWORD_MAX = 1024 - 1;

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

/**
 * Parses a public key: the text of a key file (any comment line, then the
 * key, as `minisign -p` reads it), or — text without a line break — a bare
 * base64 key (as `minisign -P` takes it).
 */
export function decodePublicKey(text: string, where = 'public key'): PublicKey {
  return text.includes('\n') ? decodePublicKeyFile(text, where) : decodePublicKeyString(text.trim(), where);
}

/** A public key file as minisign reads it: line 1 is a comment (≤ 1023 bytes with its newline), line 2 the key. */
export function decodePublicKeyFile(text: string, where = 'public key file'): PublicKey {
  const [comment, line] = lines(text);
  if (comment === undefined || line === undefined) {
    throw keyError(`${where}: expected two lines, "untrusted comment: …" then the base64 key`);
  }
  if (lineBytes(comment) > COMMENT_LINE_MAX) {
    throw keyError(`${where}: the comment line is ${lineBytes(comment)} bytes; minisign reads at most ${COMMENT_LINE_MAX}`);
  }
  return decodePublicKeyString(line, where);
}

/** A bare base64 public key ("RW…", 56 characters), as `minisign -P` takes it. */
export function decodePublicKeyString(line: string, where = 'public key'): PublicKey {
  const raw = strictBase64(line);
  if (raw?.length !== 42) {
    throw keyError(
      `${where}: not a minisign public key (${raw ? `base64 of ${raw.length} bytes` : `not valid base64 (${line.length} characters)`}; a public key is 56 base64 characters starting "RW")`,
    );
  }
  if (raw.subarray(0, 2).toString('latin1') !== 'Ed') throw keyError(`${where}: unsupported signature algorithm (a public key starts "RW")`);
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
  const [comment, line] = lines(text);
  if (!comment?.startsWith(UNTRUSTED_PREFIX)) throw keyError(`${where}: expected a minisign secret key starting "untrusted comment:"`);
  if (lineBytes(comment) > COMMENT_LINE_MAX) {
    throw keyError(`${where}: the comment line is ${lineBytes(comment)} bytes; minisign reads at most ${COMMENT_LINE_MAX}`);
  }
  const raw = strictBase64(line ?? '');
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
    throw new IngotError(
      ErrorCode.usage,
      `trusted comment too long for minisign (${Buffer.byteLength(sig.trustedComment)} bytes; at most ${TRUSTED_COMMENT_MAX})`,
      {
        exitCode: ExitCode.usage,
      },
    );
  }
  if (Buffer.byteLength(sig.untrustedComment) > UNTRUSTED_COMMENT_MAX) {
    throw new IngotError(
      ErrorCode.usage,
      `untrusted comment too long for minisign (${Buffer.byteLength(sig.untrustedComment)} bytes; at most ${UNTRUSTED_COMMENT_MAX})`,
      {
        exitCode: ExitCode.usage,
      },
    );
  }
  const body = Buffer.concat([Buffer.from(sig.algorithm, 'latin1'), sig.keyId, sig.signature]).toString('base64');
  return `${UNTRUSTED_PREFIX}${sig.untrustedComment}\n${body}\n` + `${TRUSTED_PREFIX}${sig.trustedComment}\n${sig.globalSignature.toString('base64')}\n`;
}

/** Parses a signature file; throws INGOT_SIGNATURE_MALFORMED. */
export function decodeSignature(text: string, where = 'signature'): SignatureRecord {
  const [untrusted, body, trusted, global] = lines(text);
  if (!untrusted?.startsWith(UNTRUSTED_PREFIX)) throw sigError(`${where}: line 1 must start with "${UNTRUSTED_PREFIX}"`);
  // Limits as minisign -V applies them: a line whose newline does not fit its buffer is refused.
  if (lineBytes(untrusted) > COMMENT_LINE_MAX) {
    throw sigError(`${where}: the untrusted comment line is ${lineBytes(untrusted)} bytes; minisign reads at most ${COMMENT_LINE_MAX}`);
  }
  if (!trusted?.startsWith(TRUSTED_PREFIX)) throw sigError(`${where}: line 3 must start with "${TRUSTED_PREFIX}"`);
  if (lineBytes(trusted) > TRUSTED_COMMENT_LINE_MAX) {
    throw sigError(`${where}: the trusted comment line is ${lineBytes(trusted)} bytes; minisign reads at most ${TRUSTED_COMMENT_LINE_MAX}`);
  }
  const raw = strictBase64(body ?? '');
  if (raw?.length !== 74) throw sigError(`${where}: line 2 must be base64 of 74 bytes`);
  const algorithm = raw.subarray(0, 2).toString('latin1');
  if (algorithm !== 'ED' && algorithm !== 'Ed') throw sigError(`${where}: unsupported signature algorithm "${algorithm}"`);
  const globalSignature = strictBase64(global ?? '');
  if (globalSignature?.length !== 64) throw sigError(`${where}: line 4 must be base64 of 64 bytes`);
  return {
    untrustedComment: stripCr(untrusted).slice(UNTRUSTED_PREFIX.length),
    algorithm,
    keyId: raw.subarray(2, 10),
    signature: raw.subarray(10, 74),
    // minisign strips only the line ending, never spaces or tabs.
    trustedComment: stripCr(trusted).slice(TRUSTED_PREFIX.length),
    globalSignature,
  };
}

/**
 * The lines of a minisign file as fgets() sees them: split at "\n", each
 * kept with a trailing "\r" (it counts against minisign's buffer sizes).
 */
function lines(text: string): string[] {
  return text.split('\n');
}

/** Bytes fgets() needs for a line: its content and the newline. */
function lineBytes(line: string): number {
  return Buffer.byteLength(line, 'utf8') + 1;
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

/** Decodes standard base64, rejecting anything node would silently skip. A trailing "\r" (CRLF files) is the line end. */
function strictBase64(line: string): Buffer | undefined {
  const text = stripCr(line);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  return Buffer.from(text, 'base64');
}

function keyError(message: string): IngotError {
  return new IngotError(ErrorCode.keyInvalid, message, { hint: 'pass a file written by `ingot keys generate` or `minisign -G`', exitCode: ExitCode.usage });
}

function sigError(message: string): IngotError {
  return new IngotError(ErrorCode.signatureMalformed, message, { hint: 'the signature file is damaged or not a minisign signature' });
}
