/**
 * The source driver interface. Each source type (https, file, packer,
 * initramfs, …) is one module exporting a `SourceDriver`: its manifest schema,
 * its own validation rules, and `open()`, which yields the source's bytes as
 * one stream. Hashing, decompression and publishing are the pipeline's job.
 */
import type { Readable } from 'node:stream';
import type { z } from 'zod';
import type { Logger } from '../log/logger.js';
import type { RuleContext } from '../manifest/rule-context.js';
import type { Image } from '../manifest/types.js';
import type { ImageStore } from '../store/image-store.js';
import type { SourceFacts } from '../store/metadata.js';
import type { HttpOptions } from './http-client.js';

/** Fields every source may have; the pipeline reads these generically. */
export interface BaseSource {
  type: string;
  /** Declared digest of the bytes `open()` yields. */
  checksum?: string;
  /** Decompress the source bytes before storing them. */
  decompress?: 'xz' | 'gzip' | 'zstd';
}

export interface AcquireContext {
  /** spec.root (by default the manifest's directory): relative source paths resolve against it and may not leave it. */
  root: string;
  image: string;
  signal: AbortSignal;
  log: Logger;
  http: HttpOptions;
  env: NodeJS.ProcessEnv;
  /** The fingerprint sync computed while planning, so `open()` need not digest the inputs again. */
  fingerprint?: SourceFingerprint;
  /** Every image of the manifest, for sources built from others (bake: its base). */
  images?: readonly Image[];
  /** The store being synced to, when there is one (a bake reads its verified base from it). */
  store?: ImageStore;
}

/** The bytes of a source, ready to stream once. */
export interface SourceStream {
  stream: Readable;
  /** Total bytes, when known up front (for progress and part sizing). */
  size?: number;
  /** Facts to record in metadata (url, build facts). */
  facts: SourceFacts;
  /** Files published next to the image (key: image key + suffix), before its metadata; e.g. scan reports. */
  attachments?: { suffix: string; file: string }[];
  /** Called once the stream was published or abandoned (a built source removes its work directory). */
  cleanup?: () => Promise<void>;
}

/** Fingerprint of a source that decides skip vs. rebuild when no digest is declared (builds). */
export interface SourceFingerprint {
  value: string;
  facts?: Record<string, unknown>;
}

export interface SourceDriver<S extends BaseSource = BaseSource> {
  /** Accepted `type` values; the first is canonical. */
  readonly types: readonly [string, ...string[]];
  readonly schema: z.ZodType<S>;
  /** Cross-field checks with positions (https-only, paths inside spec.root, …). */
  rules?(source: S, ctx: RuleContext): void;
  /** Facts shown by --dry-run and stored in metadata before acquisition. */
  describe(source: S): SourceFacts;
  /** For sources without a declared digest: what decides whether the stored bytes are current. */
  fingerprint?(source: S, ctx: AcquireContext): Promise<SourceFingerprint>;
  /** Produces the bytes. */
  open(source: S, ctx: AcquireContext): Promise<SourceStream>;
}
