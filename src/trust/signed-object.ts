/**
 * Signed objects in a store: `<key>` plus `<key>.minisig`. Writers put the
 * document first and its signature second; readers fetch both and verify
 * before anything parses the bytes. The trusted comment names the file, so a
 * validly signed document cannot be served under another document's name.
 */
import * as path from 'node:path/posix';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, IngotError } from '../errors.js';
import type { StoreBackend } from '../store/backend.js';
import { readLimitFor, SIGNATURE_SUFFIX } from '../store/layout.js';
import type { SecretKey } from './keys.js';
import type { PublicKey } from './minisign-format.js';
import { signBytes, trustedCommentFields, verifyBytes, type VerifiedSignature } from './signature.js';

export { SIGNATURE_SUFFIX };

/** The trusted comment ingot writes: minisign's own fields, plus ours. */
export function trustedComment(key: string, now: Date, extra: Record<string, string | number> = {}): string {
  const fields = { timestamp: Math.floor(now.getTime() / 1000), file: path.basename(key), ...extra };
  return Object.entries(fields)
    .map(([k, v]) => `${k}:${v}`)
    .join('\t');
}

/** Writes a document and then its prehashed signature. */
export async function putSigned(
  backend: StoreBackend,
  key: string,
  bytes: Buffer,
  secretKey: SecretKey,
  options: { now: Date; extra?: Record<string, string | number>; signal?: AbortSignal },
): Promise<void> {
  const signature = signBytes(bytes, secretKey, { trustedComment: trustedComment(key, options.now, options.extra) });
  await backend.put(key, bytes, options.signal);
  await backend.put(`${key}${SIGNATURE_SUFFIX}`, signature, options.signal);
}

/** A document whose signature checked out, with its trusted comment fields. */
export interface VerifiedObject {
  bytes: Buffer;
  signature: VerifiedSignature;
  /** The trusted comment's key:value fields. */
  fields: Record<string, string>;
}

/**
 * Fetches and verifies a signed document. A writer replaces the document
 * before its signature, so one failed check is retried once after a short
 * pause before it is reported.
 */
export async function getVerified(
  backend: StoreBackend,
  key: string,
  publicKey: PublicKey,
  options: { signal?: AbortSignal; retryDelayMs?: number } = {},
): Promise<VerifiedObject | undefined> {
  try {
    return await fetchAndVerify(backend, key, publicKey, options.signal);
  } catch (error) {
    if (!(error instanceof IngotError) || error.code !== ErrorCode.signatureInvalid) throw error;
    await sleep(options.retryDelayMs ?? 250, undefined, { signal: options.signal });
    return fetchAndVerify(backend, key, publicKey, options.signal);
  }
}

async function fetchAndVerify(backend: StoreBackend, key: string, publicKey: PublicKey, signal?: AbortSignal): Promise<VerifiedObject | undefined> {
  // Bounded reads: nothing is parsed before the signature checks out, and nothing unbounded is read either.
  const bytes = await backend.get(key, signal, { maxBytes: readLimitFor(key) });
  if (!bytes) return undefined;
  const signature = await backend.get(`${key}${SIGNATURE_SUFFIX}`, signal, { maxBytes: readLimitFor(`${key}${SIGNATURE_SUFFIX}`) });
  const where = `${backend.displayUrl.replace(/\/$/, '')}/${key}`;
  if (!signature) {
    throw new IngotError(ErrorCode.signatureMissing, `no signature for ${where}`, {
      url: where,
      hint: `the store has ${key} but not ${key}${SIGNATURE_SUFFIX}: sign it with \`ingot sign\` (or configure a signing key for sync)`,
    });
  }
  const verified = verifyBytes(bytes, signature.toString('utf8'), publicKey, where);
  const fields = trustedCommentFields(verified.trustedComment);
  if (fields.file !== undefined && fields.file !== path.basename(key)) {
    throw new IngotError(ErrorCode.signatureInvalid, `signature of ${where} is for another file ("${fields.file}")`, {
      hint: 'someone served a validly signed document under the wrong name; do not use it',
    });
  }
  return { bytes, signature: verified, fields };
}
