/**
 * What a catalogue says about a signed document: signed or not, by which key
 * id, and — when the viewer was given a public key — whether the signature
 * verifies. Nothing here throws: a bad signature is a verdict to show.
 */
import * as path from 'node:path/posix';
import type { IngotError } from '../errors.js';
import { decodeSignature, keyIdHex, type PublicKey } from '../trust/minisign-format.js';
import { trustedCommentFields, verifyBytes } from '../trust/signature.js';

/**
 * `verified`: checked with the given public key. `signed`: a well-formed
 * signature, not checked (no key given). `invalid`: malformed, another key, or
 * bytes that do not match. `unsigned`: no .minisig at all.
 */
export type SignatureStatus = 'verified' | 'signed' | 'invalid' | 'unsigned';

/** The verdict on one signed document. */
export interface SignatureState {
  status: SignatureStatus;
  /** Key id from the signature (minisign notation), when it could be read. */
  keyId?: string;
  /** Trusted comment fields (checked only when `status` is "verified"). */
  fields?: Record<string, string>;
  /** Why it is invalid. */
  problem?: string;
  /** INGOT_* code of the problem. */
  code?: string;
}

/** Judges `bytes` against its `.minisig` text (undefined = none) and, if given, a public key. */
export function judgeSignature(key: string, bytes: Buffer, signature: Buffer | undefined, publicKey: PublicKey | undefined): SignatureState {
  if (!signature) return { status: 'unsigned' };
  const text = signature.toString('utf8');
  let keyId: string;
  let fields: Record<string, string>;
  try {
    const record = decodeSignature(text, `signature of ${key}`);
    keyId = keyIdHex(record.keyId);
    fields = trustedCommentFields(record.trustedComment);
  } catch (error) {
    return { status: 'invalid', problem: (error as Error).message, code: (error as IngotError).code };
  }
  if (!publicKey) return { status: 'signed', keyId, fields };
  try {
    verifyBytes(bytes, text, publicKey, key);
  } catch (error) {
    return { status: 'invalid', keyId, fields, problem: (error as Error).message, code: (error as IngotError).code };
  }
  // The same rule as readers: the trusted comment names the file it signs.
  if (fields.file !== undefined && fields.file !== path.basename(key)) {
    return { status: 'invalid', keyId, fields, problem: `the signature is for another file ("${fields.file}")`, code: 'INGOT_SIGNATURE_INVALID' };
  }
  return { status: 'verified', keyId, fields };
}
