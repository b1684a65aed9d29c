/**
 * ed25519 key pairs in minisign's shape: a random 8-byte key id, a 64-byte
 * libsodium secret key (seed ‖ public key) and the 32-byte public key, turned
 * into node KeyObjects through JWK. Sealing and opening secret key files
 * (scrypt + XOR, BLAKE2b-256 checksum) live here too.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { blake2b } from './blake2b.js';
import { deriveKeystream, KDF_LIMITS } from './kdf.js';
import { decodeSecretKey, encodeSecretKey, PASSWORD_MAX, type PublicKey, type SecretKeyRecord } from './minisign-format.js';

/** A usable signing key: id, libsodium-format secret bytes and node key objects. */
export interface SecretKey {
  keyId: Buffer;
  /** seed[32] ‖ public key[32], as libsodium and minisign store it. */
  secret: Buffer;
  publicKey: PublicKey;
  privateKeyObject: KeyObject;
}

/** How a secret key file is written. */
export interface SealOptions {
  /** Encrypts with this password; undefined writes an unencrypted key (like `minisign -G -W`). */
  password?: string;
  /** scrypt limits (default: minisign's own, "sensitive"). */
  kdf?: { opslimit: bigint; memlimit: bigint };
  comment?: string;
}

/** A new random key pair. */
export function generateSecretKey(): SecretKey {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d ?? '', 'base64url');
  const pub = Buffer.from(jwk.x ?? '', 'base64url');
  return secretKeyFrom(randomBytes(8), Buffer.concat([seed, pub]));
}

/** Builds a SecretKey from its id and 64 secret bytes, checking the public half matches the seed. */
export function secretKeyFrom(keyId: Buffer, secret: Buffer): SecretKey {
  if (keyId.length !== 8 || secret.length !== 64) throw new IngotError(ErrorCode.keyInvalid, 'secret key has the wrong length');
  const seed = secret.subarray(0, 32);
  const pub = secret.subarray(32, 64);
  const privateKeyObject = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: seed.toString('base64url'), x: pub.toString('base64url') },
    format: 'jwk',
  });
  const derived = Buffer.from(createPublicKey(privateKeyObject).export({ format: 'jwk' }).x ?? '', 'base64url');
  if (!timingSafeEqual(derived, pub)) {
    throw new IngotError(ErrorCode.keyInvalid, 'secret key is corrupt: its public half does not match its seed', { exitCode: ExitCode.usage });
  }
  return { keyId: Buffer.from(keyId), secret: Buffer.from(secret), publicKey: { keyId: Buffer.from(keyId), key: Buffer.from(pub) }, privateKeyObject };
}

/** A node KeyObject for verifying with a minisign public key. */
export function publicKeyObject(pk: PublicKey): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: pk.key.toString('base64url') }, format: 'jwk' });
}

/** minisign's checksum: BLAKE2b-256("Ed" ‖ keyid ‖ sk). */
export function secretKeyChecksum(keyId: Buffer, secret: Buffer): Buffer {
  return blake2b([Buffer.from('Ed'), keyId, secret], 32);
}

/** Serialises a secret key into minisign's secret key file (encrypted when a password is given). */
export async function sealSecretKey(key: SecretKey, options: SealOptions = {}): Promise<string> {
  const plain = Buffer.concat([key.keyId, key.secret, secretKeyChecksum(key.keyId, key.secret)]);
  if (options.password === undefined) {
    const record: SecretKeyRecord = { kdf: 'none', salt: Buffer.alloc(32), opslimit: 0n, memlimit: 0n, keynumSk: plain };
    return encodeSecretKey(record, options.comment);
  }
  if (options.password.length === 0) throw new IngotError(ErrorCode.usage, 'the signing key password is empty', { exitCode: ExitCode.usage });
  // minisign reads a password as one line into 1024 bytes: a longer one, or one with a line break, it could never type.
  if (Buffer.byteLength(options.password, 'utf8') > PASSWORD_MAX || /[\r\n]/.test(options.password)) {
    throw new IngotError(ErrorCode.usage, `the signing key password must be one line of at most ${PASSWORD_MAX} bytes (minisign reads no more)`, {
      hint: 'choose a shorter password; minisign -S could not open the key otherwise',
      exitCode: ExitCode.usage,
    });
  }
  const { opslimit, memlimit } = options.kdf ?? KDF_LIMITS.sensitive;
  const salt = randomBytes(32);
  const stream = await deriveKeystream(options.password, salt, opslimit, memlimit, plain.length);
  const record: SecretKeyRecord = { kdf: 'scrypt', salt, opslimit, memlimit, keynumSk: xor(plain, stream) };
  return encodeSecretKey(record, options.comment);
}

/** Opens a secret key file; `password` is needed when it is encrypted. */
export async function openSecretKey(text: string, password?: string, where = 'secret key'): Promise<SecretKey> {
  const record = decodeSecretKey(text, where);
  let plain = record.keynumSk;
  if (record.kdf === 'scrypt') {
    if (password === undefined) {
      throw new IngotError(ErrorCode.keyPassword, `${where} is encrypted and no password was given`, {
        hint: 'set INGOT_SIGNING_PASSWORD or pass --password-file FILE',
        exitCode: ExitCode.usage,
      });
    }
    plain = xor(plain, await deriveKeystream(password, record.salt, record.opslimit, record.memlimit, plain.length));
  }
  const keyId = plain.subarray(0, 8);
  const secret = plain.subarray(8, 72);
  const checksum = plain.subarray(72, 104);
  // `minisign -G -W` leaves the checksum zero; it is checked whenever present.
  const unchecked = record.kdf === 'none' && checksum.every((b) => b === 0);
  if (!unchecked && !timingSafeEqual(checksum, secretKeyChecksum(keyId, secret))) {
    throw record.kdf === 'scrypt'
      ? new IngotError(ErrorCode.keyPassword, `wrong password for ${where}`, {
          hint: 'check INGOT_SIGNING_PASSWORD or --password-file',
          exitCode: ExitCode.usage,
        })
      : new IngotError(ErrorCode.keyInvalid, `${where} is corrupt (checksum mismatch)`, { exitCode: ExitCode.usage });
  }
  return secretKeyFrom(keyId, secret);
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}
