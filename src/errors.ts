/**
 * One error family for ingot. Every error a user can see carries a stable
 * string `code` (documented in docs/errors.md), structured fields and an exit code.
 * The CLI layer renders `message` (short reason + subject), then `hint`.
 */

/** Exit codes, as in DESIGN.md: 1 = the work ran and something failed; 2 = bad usage or input. */
export const ExitCode = { ok: 0, failed: 1, usage: 2 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface IngotErrorFields {
  /** What to do about it, one sentence. */
  hint?: string;
  /** A file or store path the error is about. */
  path?: string;
  /** A URL the error is about (never with credentials in it). */
  url?: string;
  /** The image the error is about. */
  image?: string;
  expected?: string;
  actual?: string;
  exitCode?: ExitCode;
  cause?: unknown;
  /** Extra structured detail for --json output. */
  details?: Record<string, unknown>;
}

/** Base class: `code` is stable and documented; `exitCode` is separate from it. */
export class IngotError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly path: string | undefined;
  readonly url: string | undefined;
  readonly image: string | undefined;
  readonly expected: string | undefined;
  readonly actual: string | undefined;
  readonly exitCode: ExitCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, fields: IngotErrorFields = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = 'IngotError';
    this.code = code;
    this.hint = fields.hint;
    this.path = fields.path;
    this.url = fields.url;
    this.image = fields.image;
    this.expected = fields.expected;
    this.actual = fields.actual;
    this.exitCode = fields.exitCode ?? ExitCode.failed;
    this.details = fields.details;
  }

  /** A plain object for --json output and structured logs. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { code: this.code, message: this.message };
    for (const key of ['hint', 'path', 'url', 'image', 'expected', 'actual'] as const) {
      if (this[key] !== undefined) out[key] = this[key];
    }
    if (this.details) out.details = this.details;
    return out;
  }
}

/** Bad usage or input: nothing was attempted (exit 2). */
export class UsageError extends IngotError {
  constructor(message: string, fields: Omit<IngotErrorFields, 'exitCode'> = {}) {
    super('INGOT_USAGE', message, { ...fields, exitCode: ExitCode.usage });
    this.name = 'UsageError';
  }
}

/** The stable codes. Add new ones here and to docs/errors.md. */
export const ErrorCode = {
  usage: 'INGOT_USAGE',
  manifestInvalid: 'INGOT_MANIFEST_INVALID',
  manifestNotFound: 'INGOT_MANIFEST_NOT_FOUND',
  digestMismatch: 'INGOT_DIGEST_MISMATCH',
  sizeMismatch: 'INGOT_SIZE_MISMATCH',
  decompressLimit: 'INGOT_DECOMPRESS_LIMIT',
  decompressFailed: 'INGOT_DECOMPRESS_FAILED',
  httpStatus: 'INGOT_HTTP_STATUS',
  httpInsecure: 'INGOT_HTTP_INSECURE',
  httpNetwork: 'INGOT_HTTP_NETWORK',
  httpTruncated: 'INGOT_HTTP_TRUNCATED',
  httpTimeout: 'INGOT_HTTP_TIMEOUT',
  sourceNotFound: 'INGOT_SOURCE_NOT_FOUND',
  storeUrl: 'INGOT_STORE_URL',
  storeIo: 'INGOT_STORE_IO',
  storeLocked: 'INGOT_STORE_LOCKED',
  storeConflict: 'INGOT_STORE_CONFLICT',
  storeLockUnsupported: 'INGOT_STORE_LOCK_UNSUPPORTED',
  storeAuth: 'INGOT_STORE_AUTH',
  storeNotFound: 'INGOT_STORE_NOT_FOUND',
  storeChanged: 'INGOT_STORE_CHANGED',
  storeReadOnly: 'INGOT_STORE_READ_ONLY',
  credentialsMissing: 'INGOT_CREDENTIALS_MISSING',
  credentialsInvalid: 'INGOT_CREDENTIALS_INVALID',
  metadataInvalid: 'INGOT_METADATA_INVALID',
  verifyMismatch: 'INGOT_VERIFY_MISMATCH',
  toolMissing: 'INGOT_TOOL_MISSING',
  toolFailed: 'INGOT_TOOL_FAILED',
  aborted: 'INGOT_ABORTED',
  exists: 'INGOT_EXISTS',
  profileInvalid: 'INGOT_PROFILE_INVALID',
  profileConflict: 'INGOT_PROFILE_CONFLICT',
  profileCycle: 'INGOT_PROFILE_CYCLE',
  versionsInvalid: 'INGOT_VERSIONS_INVALID',
  userDataInvalid: 'INGOT_USERDATA_INVALID',
  launchFailed: 'INGOT_LAUNCH_FAILED',
  launchTimeout: 'INGOT_LAUNCH_TIMEOUT',
  cloudInitFailed: 'INGOT_CLOUD_INIT_FAILED',
  imageDigestMismatch: 'INGOT_IMAGE_DIGEST_MISMATCH',
  healthCheckFailed: 'INGOT_HEALTH_CHECK_FAILED',
  // Post-launch steps and VM lifecycle (src/provision/launch).
  postLaunchFailed: 'INGOT_POST_LAUNCH_FAILED',
  bundleInvalid: 'INGOT_BUNDLE_INVALID',
  vmNotFound: 'INGOT_VM_NOT_FOUND',
  vmState: 'INGOT_VM_STATE',
  toolTooOld: 'INGOT_TOOL_TOO_OLD',
  // Initramfs builds and boots (src/initramfs, src/vm).
  cpioLimit: 'INGOT_CPIO_LIMIT',
  cpioInvalid: 'INGOT_CPIO_INVALID',
  initramfsInput: 'INGOT_INITRAMFS_INPUT',
  initramfsTooLarge: 'INGOT_INITRAMFS_TOO_LARGE',
  bootFailed: 'INGOT_BOOT_FAILED',
  bootManifestInvalid: 'INGOT_BOOT_MANIFEST_INVALID',
  // Packer templates and builds (src/packer, src/acquire/packer.ts).
  packerConfigInvalid: 'INGOT_PACKER_CONFIG_INVALID',
  packerBuildFailed: 'INGOT_PACKER_BUILD_FAILED',
  packerArtifactMissing: 'INGOT_PACKER_ARTIFACT_MISSING',
  internal: 'INGOT_INTERNAL',
  // Trust and host side (src/trust, src/cache).
  keyInvalid: 'INGOT_KEY_INVALID',
  keyPassword: 'INGOT_KEY_PASSWORD',
  signatureMissing: 'INGOT_SIGNATURE_MISSING',
  signatureMalformed: 'INGOT_SIGNATURE_MALFORMED',
  signatureKeyMismatch: 'INGOT_SIGNATURE_KEY_MISMATCH',
  signatureInvalid: 'INGOT_SIGNATURE_INVALID',
  indexInvalid: 'INGOT_INDEX_INVALID',
  indexRollback: 'INGOT_INDEX_ROLLBACK',
  indexExpired: 'INGOT_INDEX_EXPIRED',
  channelInvalid: 'INGOT_CHANNEL_INVALID',
  channelRollback: 'INGOT_CHANNEL_ROLLBACK',
  notInIndex: 'INGOT_NOT_IN_INDEX',
  incompatible: 'INGOT_INCOMPATIBLE',
  cacheLocked: 'INGOT_CACHE_LOCKED',
  cacheConflict: 'INGOT_CACHE_CONFLICT',
  cacheNotFound: 'INGOT_CACHE_NOT_FOUND',
  bootManifestRollback: 'INGOT_BOOT_MANIFEST_ROLLBACK',
  // Hardening of the store layout, the host cache and signed reads (issue 17).
  destinationConflict: 'INGOT_DESTINATION_CONFLICT',
  cacheUnsafe: 'INGOT_CACHE_UNSAFE',
  objectTooLarge: 'INGOT_OBJECT_TOO_LARGE',
  // Serve and mirror (src/serve, src/mirror).
  serveListen: 'INGOT_SERVE_LISTEN',
  // Fleet operations (src/fleet).
  prometheus: 'INGOT_PROMETHEUS',
  // Bake (src/bake, issue 12).
  bakeInput: 'INGOT_BAKE_INPUT',
  bakeFailed: 'INGOT_BAKE_FAILED',
  bakeVerifyFailed: 'INGOT_BAKE_VERIFY_FAILED',
  scanFailed: 'INGOT_SCAN_FAILED',
} as const;

/** Wraps anything thrown into an IngotError, keeping the original as `cause`. */
export function asIngotError(error: unknown, fallbackCode: string = ErrorCode.internal): IngotError {
  if (error instanceof IngotError) return error;
  if (error instanceof Error && error.name === 'AbortError') {
    return new IngotError(ErrorCode.aborted, 'interrupted', { cause: error, exitCode: ExitCode.failed });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new IngotError(fallbackCode, message, { cause: error });
}
