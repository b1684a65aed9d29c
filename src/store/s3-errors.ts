/**
 * S3 SDK errors → IngotErrors a person can act on. RGW sends empty error
 * messages (the SDK then says "UnknownError"), so we branch on the error name
 * and the HTTP status only, and build our own message. Nothing from the
 * request (headers, signature) is copied into the message.
 */
import { ErrorCode, IngotError } from '../errors.js';
import { scrub } from '../log/logger.js';

/** The parts of an SDK error we read. */
export interface S3ErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/** The HTTP status of an SDK error, if it got that far. */
export function s3Status(error: unknown): number | undefined {
  return (error as S3ErrorShape | undefined)?.$metadata?.httpStatusCode;
}

/** The S3 error name ("NoSuchKey", "PreconditionFailed", …). */
export function s3Name(error: unknown): string {
  const e = error as S3ErrorShape | undefined;
  return e?.name ?? e?.code ?? 'Error';
}

export function isNotFound(error: unknown): boolean {
  const name = s3Name(error);
  return name === 'NoSuchKey' || name === 'NotFound' || (s3Status(error) === 404 && name !== 'NoSuchBucket');
}

const AUTH_NAMES = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'InvalidToken', 'ExpiredToken']);

export interface S3ErrorContext {
  /** What we were doing: "read", "write", "list", … */
  op: string;
  key?: string;
  bucket: string;
  store: string;
  /** Where the credentials came from (never their values). */
  credentialsSource?: string;
  /** Strings that must never appear in a message (the secret key). */
  secrets?: readonly string[];
}

/** Maps an SDK error to an IngotError with a code and a hint. */
export function s3Error(error: unknown, ctx: S3ErrorContext): IngotError {
  if (error instanceof IngotError) return error;
  if ((error as Error | undefined)?.name === 'AbortError') {
    return new IngotError(ErrorCode.aborted, `interrupted: ${ctx.op} ${ctx.key ?? ''}`.trim(), { cause: error });
  }
  const name = s3Name(error);
  const status = s3Status(error);
  const subject = ctx.key ? `${ctx.op} ${ctx.key}` : ctx.op;
  const what = status ? `${name}, HTTP ${status}` : name;
  if (AUTH_NAMES.has(name) || status === 403) {
    const credHint = ctx.credentialsSource ? `the credentials from ${ctx.credentialsSource}` : 'the credentials';
    return new IngotError(ErrorCode.storeAuth, `access denied by ${ctx.store} (${what}): cannot ${subject}`, {
      hint:
        name === 'AccessDenied'
          ? `${credHint} are valid but may not ${ctx.op} in bucket "${ctx.bucket}": check the key's policy`
          : `check ${credHint} (access key and secret) and the endpoint/region`,
      path: ctx.key,
      cause: error,
      details: { s3Error: name, status },
    });
  }
  if (name === 'NoSuchBucket') {
    return new IngotError(ErrorCode.storeNotFound, `bucket "${ctx.bucket}" does not exist: ${ctx.store}`, {
      hint: `create the bucket first (for example \`s3cmd mb s3://${ctx.bucket}\`), or fix the bucket name or endpoint`,
      cause: error,
      details: { s3Error: name, status },
    });
  }
  const detail = scrub(plainMessage(error), ctx.secrets ?? []);
  return new IngotError(ErrorCode.storeIo, `cannot ${subject} in ${ctx.store}: ${what}${detail ? ` (${detail})` : ''}`, {
    hint: status && status >= 500 ? 'the server failed even after retries; try again later' : undefined,
    path: ctx.key,
    cause: error,
    details: { s3Error: name, status },
  });
}

function plainMessage(error: unknown): string {
  const message = (error as Error | undefined)?.message ?? '';
  // The SDK's placeholder for an empty body says nothing; network errors keep their code.
  if (message === '' || message === 'UnknownError' || message === s3Name(error)) return (error as S3ErrorShape).code ?? '';
  return message.split('\n')[0]?.slice(0, 300) ?? '';
}
