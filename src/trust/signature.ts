/**
 * Signing and verifying minisign signatures. Prehashed "ED" signatures sign
 * BLAKE2b-512 of the bytes, so a file is hashed as a stream (memory flat);
 * the trusted comment is bound by a second, "global" signature over
 * sig ‖ trusted comment. Verification checks the key id first (so "signed by
 * another key" is its own error), then both signatures.
 */
import { createHash, sign as edSign, verify as edVerify, timingSafeEqual } from 'node:crypto';
import { ErrorCode, IngotError } from '../errors.js';
import { formatDigest, type Digest } from '../digest/digest.js';
import { open, stat } from 'node:fs/promises';
import { hashThread } from '../digest/hash-thread.js';
import { FILE_CHUNK, hashFile, readFileChunks } from '../digest/hashing.js';
import { createBlake2b512 } from './blake2b.js';
import { publicKeyObject, type SecretKey } from './keys.js';
import { decodeSignature, encodeSignature, keyIdHex, type PublicKey, type SignatureRecord } from './minisign-format.js';

/** How to sign: the trusted comment is required (minisign always has one). */
export interface SignOptions {
  trustedComment: string;
  untrustedComment?: string;
  /** Legacy "Ed" (sign the raw bytes) instead of prehashed "ED". Only for small data. */
  legacy?: boolean;
}

/** What a verified signature tells: the trusted comment and who signed. */
export interface VerifiedSignature {
  trustedComment: string;
  algorithm: 'ED' | 'Ed';
  keyId: string;
}

/** Signs bytes in memory; returns the .minisig text. */
export function signBytes(data: Uint8Array, key: SecretKey, options: SignOptions): string {
  const message = options.legacy ? data : blake2b512(data);
  return signMessage(message, key, options);
}

/** Signs a file, hashing it as a stream (prehashed "ED"). */
export async function signFile(file: string, key: SecretKey, options: Omit<SignOptions, 'legacy'>): Promise<string> {
  const hash = createBlake2b512();
  await hashFile(file, [hash]);
  return signMessage(hash.digest(), key, options);
}

function blake2b512(data: Uint8Array): Buffer {
  const hash = createBlake2b512();
  hash.update(data);
  return hash.digest();
}

function signMessage(message: Uint8Array, key: SecretKey, options: SignOptions): string {
  const signature = edSign(null, message, key.privateKeyObject);
  const globalSignature = edSign(null, Buffer.concat([signature, Buffer.from(options.trustedComment, 'utf8')]), key.privateKeyObject);
  const record: SignatureRecord = {
    untrustedComment: options.untrustedComment ?? `signature from ingot key ${keyIdHex(key.keyId)}`,
    algorithm: options.legacy ? 'Ed' : 'ED',
    keyId: key.keyId,
    signature,
    trustedComment: options.trustedComment,
    globalSignature,
  };
  return encodeSignature(record);
}

/** Verifies a signature over bytes in memory; throws INGOT_SIGNATURE_* on any failure. */
export function verifyBytes(data: Uint8Array, signatureText: string, pk: PublicKey, subject = 'data'): VerifiedSignature {
  const record = decodeSignature(signatureText, `signature of ${subject}`);
  const message = record.algorithm === 'ED' ? blake2b512(data) : data;
  return checkRecord(record, message, pk, subject);
}

/** A verified file: signature facts plus the digest computed in the same read. */
export interface VerifyFileResult extends VerifiedSignature {
  /** sha256 of the file, computed in the same pass. */
  sha256: Digest;
  size: number;
}

/**
 * Verifies a signed file in one read: BLAKE2b-512 for the signature and
 * sha256 for the digest check run over the same chunks (native hashes, large
 * reads overlapped with hashing). For a file of one chunk or more, the
 * helper thread reads it and computes sha256 when it is up (see
 * hash-thread.ts), so BLAKE2b (or the legacy copy) and sha256 use two cores.
 * Legacy "Ed" signatures need the whole file in memory (as in minisign), so
 * they are accepted only up to 64 MiB.
 */
export async function verifyFile(file: string, signatureText: string, pk: PublicKey, expectedSha256?: Digest): Promise<VerifyFileResult> {
  const record = decodeSignature(signatureText, `signature of ${file}`);
  checkKeyId(record, pk, file);
  let message: Uint8Array;
  let read: { shaHex: string; size: number };
  if (record.algorithm === 'ED') {
    const blake = createBlake2b512();
    read = await hashBesideSha256(file, blake);
    message = blake.digest();
  } else {
    const chunks: Buffer[] = [];
    let bytes = 0;
    read = await hashBesideSha256(file, (chunk) => {
      chunks.push(Buffer.from(chunk));
      bytes += chunk.length;
      if (bytes > 64 << 20) {
        throw new IngotError(ErrorCode.signatureMalformed, `legacy (non-prehashed) signature on a file over 64 MiB: ${file}`, { path: file });
      }
    });
    message = Buffer.concat(chunks);
  }
  const verified = checkRecord(record, message, pk, file);
  const sha256 = formatDigest('sha256', read.shaHex);
  if (expectedSha256 && sha256 !== expectedSha256) {
    throw new IngotError(ErrorCode.digestMismatch, `digest mismatch: ${file}`, { path: file, expected: expectedSha256, actual: sha256 });
  }
  return { ...verified, sha256, size: read.size };
}

/**
 * Reads `file` once, giving every chunk to `other` (a hash, or a function)
 * and to sha256. A file of a chunk or more is read in the helper thread,
 * which also computes sha256, while this thread runs `other`; without the
 * thread (not started yet, or INGOT_HASH_THREAD=0) both run here.
 */
async function hashBesideSha256(
  file: string,
  other: { update(chunk: Uint8Array): unknown } | ((chunk: Uint8Array) => void),
): Promise<{ shaHex: string; size: number }> {
  const feed = typeof other === 'function' ? other : (chunk: Uint8Array) => void other.update(chunk);
  // Asked only for a large file: a small one is hashed here sooner than a message goes to the thread.
  const thread = (await stat(file)).size >= FILE_CHUNK ? hashThread() : undefined;
  if (thread) {
    const handle = await open(file, 'r');
    try {
      const { hex, size } = await thread.readFile(handle.fd, 'sha256', feed);
      return { shaHex: hex, size };
    } finally {
      await handle.close();
    }
  }
  const sha = createHash('sha256');
  const size = await readFileChunks(file, (chunk) => {
    sha.update(chunk);
    feed(chunk);
  });
  return { shaHex: sha.digest('hex'), size };
}

function checkKeyId(record: SignatureRecord, pk: PublicKey, subject: string): void {
  if (!timingSafeEqual(record.keyId, pk.keyId)) {
    throw new IngotError(ErrorCode.signatureKeyMismatch, `${subject} is signed by key ${keyIdHex(record.keyId)}, not the trusted key ${keyIdHex(pk.keyId)}`, {
      hint: 'check --public-key: the publisher may have rotated keys, or someone else signed this',
      expected: keyIdHex(pk.keyId),
      actual: keyIdHex(record.keyId),
    });
  }
}

function checkRecord(record: SignatureRecord, message: Uint8Array, pk: PublicKey, subject: string): VerifiedSignature {
  checkKeyId(record, pk, subject);
  const keyObject = publicKeyObject(pk);
  if (!edVerify(null, message, keyObject, record.signature)) {
    throw new IngotError(ErrorCode.signatureInvalid, `signature verification failed: ${subject}`, {
      hint: 'the signed bytes were changed after signing, or the signature belongs to other bytes; do not use them',
    });
  }
  const commentBytes = Buffer.from(record.trustedComment, 'utf8');
  if (!edVerify(null, Buffer.concat([record.signature, commentBytes]), keyObject, record.globalSignature)) {
    throw new IngotError(ErrorCode.signatureInvalid, `trusted comment signature verification failed: ${subject}`, {
      hint: 'the trusted comment was edited after signing',
    });
  }
  return { trustedComment: record.trustedComment, algorithm: record.algorithm, keyId: keyIdHex(record.keyId) };
}

/** Parses "key:value" fields of a trusted comment (tab- or space-separated). */
export function trustedCommentFields(comment: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of comment.split(/[\t ]+/)) {
    const colon = part.indexOf(':');
    if (colon > 0) out[part.slice(0, colon)] = part.slice(colon + 1);
  }
  return out;
}
