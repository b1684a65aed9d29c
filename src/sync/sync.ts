/**
 * `sync` as a table of contents: select images → read metadata → plan →
 * (dry run: stop) → acquire/verify/publish each → collect outcomes.
 * One failing image never stops the others.
 */
import type { HttpOptions } from '../acquire/http-client.js';
import type { AcquireContext } from '../acquire/source.js';
import { asIngotError, type IngotError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { ProgressReporter } from '../log/progress.js';
import type { Image, Manifest } from '../manifest/types.js';
import type { ImageStore, MetadataRead } from '../store/image-store.js';
import type { DecompressorPreference } from '../transform/decompress.js';
import { mapLimit } from '../util/concurrency.js';
import { planImage, type Action, type PlannedImage } from './plan.js';
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

export type OutcomeStatus = 'skipped' | 'published' | 'failed' | 'planned';

export interface ImageOutcome {
  name: string;
  path: string;
  action: Action;
  status: OutcomeStatus;
  reason: string;
  size?: number;
  checksum?: string;
  durationMs: number;
  error?: IngotError;
}

export interface SyncResult {
  outcomes: ImageOutcome[];
  failed: number;
}

export async function runSync(options: SyncOptions): Promise<SyncResult> {
  const outcomes = await mapLimit(options.images, Math.max(1, options.concurrency), (image) => syncOne(image, options));
  return { outcomes, failed: outcomes.filter((o) => o.status === 'failed').length };
}

async function syncOne(image: Image, options: SyncOptions): Promise<ImageOutcome> {
  const started = Date.now();
  const log = options.log.child({ image: image.name });
  const base = { name: image.name, path: image.path };
  const acquire: AcquireContext = {
    manifestDir: options.manifest.dir,
    image: image.name,
    signal: options.signal,
    log,
    http: options.http,
    env: options.env,
  };
  let planned: PlannedImage | undefined;
  try {
    let fingerprint;
    try {
      fingerprint = image.expected ? undefined : await image.driver.fingerprint?.(image.source, acquire);
    } catch (error) {
      // A dry run explains instead of failing (e.g. packer not installed on this machine).
      if (!options.dryRun) throw error;
      const reason = `cannot compute the build fingerprint: ${asIngotError(error).message}`;
      return { ...base, action: 'unknown', status: 'planned', reason, durationMs: Date.now() - started };
    }
    let stored: MetadataRead;
    try {
      stored = await options.store.readMetadata(image.path, options.signal);
    } catch (error) {
      if (!options.dryRun) throw error;
      const reason = `cannot read the store: ${asIngotError(error).message}`;
      return { ...base, action: 'unknown', status: 'planned', reason, durationMs: Date.now() - started };
    }
    planned = planImage(image, stored, { force: options.force, ...(fingerprint ? { fingerprint: fingerprint.value } : {}) });
    log.info(`${planned.action}: ${planned.reason}`, { step: 'plan' });
    if (options.dryRun) return { ...base, action: planned.action, status: 'planned', reason: planned.reason, durationMs: Date.now() - started };
    if (planned.action === 'skip') {
      const meta = stored.status === 'present' ? stored.metadata : undefined;
      return {
        ...base,
        action: 'skip',
        status: 'skipped',
        reason: planned.reason,
        ...(meta ? { size: meta.size, checksum: meta.checksum } : {}),
        durationMs: Date.now() - started,
      };
    }
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
    log.error(`failed: ${error.message}`, { step: 'sync', code: error.code, ...(error.expected ? { expected: error.expected, actual: error.actual } : {}) });
    return {
      ...base,
      action: planned?.action ?? 'publish',
      status: 'failed',
      reason: error.message,
      durationMs: Date.now() - started,
      error,
    };
  }
}
