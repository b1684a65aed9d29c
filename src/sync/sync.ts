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
  const present = await listMetadataKeys(options);
  const steps = await mapLimit(options.images, PLAN_CONCURRENCY, (image) => planOne(image, options, present));
  const outcomes = await mapLimit(steps, Math.max(1, options.concurrency), async (step): Promise<ImageOutcome> =>
    step.kind === 'done' ? step.outcome : step.kind === 'update' ? updateOne(step, options) : applyOne(step, options),
  );
  return { outcomes, failed: outcomes.filter((o) => o.status === 'failed').length };
}

/**
 * One listing of metadata/ tells which images have no metadata at all, so
 * those need no GET. (A listing cannot replace the GETs of present ones: it
 * has no checksums.) Undefined when the store cannot be listed.
 */
async function listMetadataKeys(options: SyncOptions): Promise<Set<string> | undefined> {
  try {
    const keys = new Set<string>();
    for await (const info of options.store.backend.list(METADATA_PREFIX, options.signal)) keys.add(info.key);
    return keys;
  } catch (error) {
    options.log.debug(`cannot list metadata: ${asIngotError(error).message}`);
    return undefined;
  }
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

async function planOne(image: Image, options: SyncOptions, present: Set<string> | undefined): Promise<Step> {
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
    stored = present && !present.has(options.store.metadataKey(image.path)) ? { status: 'absent' } : await options.store.readMetadata(image.path, options.signal);
  } catch (error) {
    const e = asIngotError(error);
    if (options.dryRun) return done({ action: 'unknown', status: 'planned', reason: `cannot read the store: ${e.message}` });
    log.error(`failed: ${e.message}`, { step: 'plan', code: e.code });
    return done({ action: 'publish', status: 'failed', reason: e.message, error: e });
  }
  const planned = planImage(image, stored, { force: options.force, ...(fingerprint ? { fingerprint: fingerprint.value } : {}) });
  log.info(`${planned.action}: ${planned.reason}`, { step: 'plan' });
  if (options.dryRun) return done({ action: planned.action, status: 'planned', reason: planned.reason, ...(planned.changes ? { changes: planned.changes } : {}) });
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
    acquire.log.error(`failed: ${error.message}`, { step: 'sync', code: error.code, ...(error.expected ? { expected: error.expected, actual: error.actual } : {}) });
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
