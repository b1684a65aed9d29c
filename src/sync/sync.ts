/**
 * `sync` as a table of contents: select images → read metadata → plan →
 * (dry run: stop) → acquire/verify/publish each → collect outcomes.
 * One failing image never stops the others.
 */
import type { HttpOptions } from '../acquire/http-client.js';
import type { AcquireContext, SourceFingerprint } from '../acquire/source.js';
import { asIngotError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { ProgressReporter } from '../log/progress.js';
import type { Image, Manifest } from '../manifest/types.js';
import { METADATA_PREFIX, type ImageStore, type MetadataRead } from '../store/image-store.js';
import type { DecompressorPreference } from '../transform/decompress.js';
import { mapLimit } from '../util/concurrency.js';
import { ErrorCode, IngotError } from '../errors.js';
import type { ImageMetadata } from '../store/metadata.js';
import type { BlobInfo } from '../store/backend.js';
import { entriesByMetadataKey, INDEX_KEY, parseIndex, vouchedEntry, type IndexEntry } from '../trust/catalogue.js';
import { getVerified } from '../trust/signed-object.js';
import type { PublicKey } from '../trust/minisign-format.js';
import { planImage, type Action, type FieldChange, type PlannedImage } from './plan.js';
import { publishImage } from './publish.js';

export interface SyncOptions {
  manifest: Manifest;
  store: ImageStore;
  /** Images to work on (already filtered by --only / --shard). */
  images: Image[];
  dryRun: boolean;
  force: boolean;
  /** Images acquired at once. Default 2. */
  concurrency: number;
  decompressor: DecompressorPreference;
  http: HttpOptions;
  log: Logger;
  progress: ProgressReporter;
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
  /**
   * The key the store's index.json is signed with (sync's signing key). With
   * it, images whose metadata the verified index vouches for are planned from
   * the index instead of one metadata read each; without it every image's
   * metadata is read (an unverified index is never trusted).
   */
  publicKey?: PublicKey;
}

export type OutcomeStatus = 'skipped' | 'published' | 'updated' | 'failed' | 'planned';

export interface ImageOutcome {
  name: string;
  path: string;
  action: Action;
  status: OutcomeStatus;
  reason: string;
  /** For `update`: the descriptive fields that differ (stored → declared). */
  changes?: FieldChange[];
  size?: number;
  checksum?: string;
  durationMs: number;
  error?: IngotError;
}

export interface SyncResult {
  outcomes: ImageOutcome[];
  failed: number;
}

/** Metadata reads in flight while planning: each is one small GET. */
const PLAN_CONCURRENCY = 16;

export async function runSync(options: SyncOptions): Promise<SyncResult> {
  // Plan first, many reads at once; then acquire with the (smaller) transfer concurrency.
  const [present, vouching] = await Promise.all([listMetadataKeys(options), signedEntries(options)]);
  const steps = await mapLimit(options.images, PLAN_CONCURRENCY, (image) => planOne(image, options, present, vouching));
  const outcomes = await mapLimit(
    steps,
    Math.max(1, options.concurrency),
    async (step): Promise<ImageOutcome> => (step.kind === 'done' ? step.outcome : step.kind === 'update' ? updateOne(step, options) : applyOne(step, options)),
  );
  return { outcomes, failed: outcomes.filter((o) => o.status === 'failed').length };
}

/**
 * One listing of metadata/ tells which images have no metadata at all, so
 * those need no GET, and gives each document's validator, which the signed
 * index is checked against (`vouchedEntry`). Undefined when the store cannot
 * be listed.
 */
async function listMetadataKeys(options: SyncOptions): Promise<Map<string, BlobInfo> | undefined> {
  try {
    const keys = new Map<string, BlobInfo>();
    for await (const info of options.store.backend.list(METADATA_PREFIX, options.signal)) keys.set(info.key, info);
    return keys;
  } catch (error) {
    options.log.debug(`cannot list metadata: ${asIngotError(error).message}`);
    return undefined;
  }
}

/**
 * The entries of the store's index.json by metadata key, when its signature
 * verifies with `options.publicKey`; else undefined (no key configured, no
 * index, a damaged or foreign one): every image's metadata is read then.
 */
async function signedEntries(options: SyncOptions): Promise<Map<string, IndexEntry> | undefined> {
  if (!options.publicKey || options.force) return undefined;
  try {
    const verified = await getVerified(options.store.backend, INDEX_KEY, options.publicKey, { signal: options.signal, retryDelayMs: 0 });
    if (!verified) return undefined;
    return entriesByMetadataKey(parseIndex(verified.bytes));
  } catch (error) {
    const e = asIngotError(error);
    options.log.warn('the signed index cannot be used to plan (every metadata document is read instead)', { code: e.code, reason: e.message });
    return undefined;
  }
}

/** What an index entry says about the metadata it was made from: enough to plan an image with a declared digest. */
function metadataFromEntry(entry: IndexEntry): ImageMetadata {
  return {
    schemaVersion: 1,
    name: entry.name,
    path: entry.path,
    key: entry.key,
    checksum: entry.checksum,
    sha256: entry.sha256,
    size: entry.size,
    uploadedAt: entry.uploadedAt ?? '',
    source: { type: 'unknown' },
    ...(entry.family !== undefined ? { family: entry.family } : {}),
    ...(entry.version !== undefined ? { version: entry.version } : {}),
    ...(entry.compatibility !== undefined ? { compatibility: entry.compatibility } : {}),
  };
}

type Step =
  | { kind: 'done'; outcome: ImageOutcome }
  | { kind: 'update'; image: Image; planned: PlannedImage; stored: ImageMetadata; started: number }
  | { kind: 'publish'; image: Image; planned: PlannedImage; fingerprint?: SourceFingerprint; started: number };

function contextFor(image: Image, options: SyncOptions): AcquireContext {
  return {
    root: options.manifest.root,
    image: image.name,
    signal: options.signal,
    log: options.log.child({ image: image.name }),
    http: options.http,
    env: options.env,
    images: options.manifest.images,
    store: options.store,
  };
}

async function planOne(
  image: Image,
  options: SyncOptions,
  present: Map<string, BlobInfo> | undefined,
  vouching: Map<string, IndexEntry> | undefined,
): Promise<Step> {
  const started = Date.now();
  const acquire = contextFor(image, options);
  const log = acquire.log;
  const base = { name: image.name, path: image.path };
  const done = (outcome: Omit<ImageOutcome, 'durationMs' | 'name' | 'path'>): Step => ({
    kind: 'done',
    outcome: { ...base, ...outcome, durationMs: Date.now() - started },
  });
  let fingerprint: SourceFingerprint | undefined;
  try {
    fingerprint = image.expected ? undefined : await image.driver.fingerprint?.(image.source, acquire);
  } catch (error) {
    const e = asIngotError(error);
    // A dry run explains instead of failing (e.g. packer not installed on this machine).
    if (options.dryRun) return done({ action: 'unknown', status: 'planned', reason: `cannot compute the build fingerprint: ${e.message}` });
    log.error(`failed: ${e.message}`, { step: 'plan', code: e.code });
    return done({ action: 'publish', status: 'failed', reason: e.message, error: e });
  }
  let stored: MetadataRead;
  try {
    const listed = present?.get(options.store.metadataKey(image.path));
    // A build (no declared digest) is planned on its stored fingerprint, which the index does not carry: read it.
    const entry = listed && image.expected ? vouchedEntry(vouching, listed) : undefined;
    if (present && !listed) stored = { status: 'absent' };
    else if (entry) stored = { status: 'present', metadata: metadataFromEntry(entry) };
    else stored = await options.store.readMetadata(image.path, options.signal);
    if (entry) log.debug('metadata vouched for by the signed index', { step: 'plan', key: listed!.key });
  } catch (error) {
    const e = asIngotError(error);
    if (options.dryRun) return done({ action: 'unknown', status: 'planned', reason: `cannot read the store: ${e.message}` });
    log.error(`failed: ${e.message}`, { step: 'plan', code: e.code });
    return done({ action: 'publish', status: 'failed', reason: e.message, error: e });
  }
  const planned = planImage(image, stored, { force: options.force, ...(fingerprint ? { fingerprint: fingerprint.value } : {}) });
  log.info(`${planned.action}: ${planned.reason}`, { step: 'plan' });
  if (options.dryRun)
    return done({ action: planned.action, status: 'planned', reason: planned.reason, ...(planned.changes ? { changes: planned.changes } : {}) });
  if (planned.action === 'update' && stored.status === 'present') return { kind: 'update', image, planned, stored: stored.metadata, started };
  if (planned.action === 'skip') {
    const meta = stored.status === 'present' ? stored.metadata : undefined;
    return done({ action: 'skip', status: 'skipped', reason: planned.reason, ...(meta ? { size: meta.size, checksum: meta.checksum } : {}) });
  }
  return { kind: 'publish', image, planned, ...(fingerprint ? { fingerprint } : {}), started };
}

/** `update`: rewrite the metadata of current bytes with the declared descriptive fields. No download, no build. */
async function updateOne(step: Extract<Step, { kind: 'update' }>, options: SyncOptions): Promise<ImageOutcome> {
  const { image, planned, stored } = step;
  const log = options.log.child({ image: image.name });
  const base = { name: image.name, path: image.path, action: planned.action, reason: planned.reason, ...(planned.changes ? { changes: planned.changes } : {}) };
  try {
    // The bytes must still be the ones planned against (the run lock makes this hold; --no-lock may not).
    const now = await options.store.readMetadata(image.path, options.signal);
    if (now.status !== 'present' || now.metadata.checksum !== stored.checksum || now.metadata.key !== stored.key) {
      throw new IngotError(ErrorCode.storeIo, 'the stored image changed while this sync ran; metadata left as it is', {
        image: image.name,
        path: options.store.metadataKey(image.path),
        hint: 'another writer touched the store (was --no-lock used?); run sync again',
      });
    }
    const { name: _n, family: _f, version: _v, compatibility: _c, ...rest } = now.metadata;
    const metadata: ImageMetadata = {
      ...rest,
      name: image.name,
      ...(image.family ? { family: image.family } : {}),
      ...(image.version ? { version: image.version } : {}),
      ...(image.compatibility ? { compatibility: image.compatibility } : {}),
      updatedAt: new Date().toISOString(),
    };
    await options.store.updateMetadata(metadata, options.signal);
    log.info(`metadata updated: ${planned.reason}`, { step: 'update', key: options.store.metadataKey(image.path) });
    return { ...base, status: 'updated', size: metadata.size, checksum: metadata.checksum, durationMs: Date.now() - step.started };
  } catch (thrown) {
    const error = asIngotError(thrown);
    log.error(`failed: ${error.message}`, { step: 'update', code: error.code });
    return { ...base, status: 'failed', reason: error.message, durationMs: Date.now() - step.started, error };
  }
}

async function applyOne(step: Extract<Step, { kind: 'publish' }>, options: SyncOptions): Promise<ImageOutcome> {
  const { image, planned, fingerprint } = step;
  const started = Date.now();
  const acquire = { ...contextFor(image, options), ...(fingerprint ? { fingerprint } : {}) };
  const base = { name: image.name, path: image.path };
  try {
    const published = await publishImage({
      store: options.store,
      image,
      acquire,
      progress: options.progress,
      decompressor: options.decompressor,
      ...(fingerprint ? { fingerprint } : {}),
    });
    return {
      ...base,
      action: planned.action,
      status: 'published',
      reason: planned.reason,
      size: published.metadata.size,
      checksum: published.metadata.checksum,
      durationMs: Date.now() - started,
    };
  } catch (thrown) {
    const error = asIngotError(thrown);
    acquire.log.error(`failed: ${error.message}`, {
      step: 'sync',
      code: error.code,
      ...(error.expected ? { expected: error.expected, actual: error.actual } : {}),
    });
    return {
      ...base,
      action: planned.action,
      status: 'failed',
      reason: error.message,
      durationMs: Date.now() - started,
      error,
    };
  }
}
