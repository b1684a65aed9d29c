/**
 * The store backend interface: a small blob store with atomic writes.
 * A directory and an S3 bucket each implement it in one file; the layout
 * (images/, metadata/, index.json, channels/) lives above it in `ImageStore`.
 */
import type { Readable, Writable } from 'node:stream';
import type { DirectFile } from '../transform/decompress-to-file.js';

export interface BlobInfo {
  /** Store-relative key, "/"-separated. */
  key: string;
  size: number;
  modified?: Date;
  /**
   * A strong validator that changes whenever the bytes do (fs: inode, size
   * and mtime; S3: its ETag). Set by `stat()` where the backend knows one,
   * and by the directory and S3 listings (a signed index records it, so a
   * re-sync can trust an entry without reading the document); others may
   * leave it out.
   */
  etag?: string;
}

/** An inclusive byte range, as in HTTP; `end` omitted = to the last byte. */
export interface ByteRange {
  start: number;
  end?: number;
}

/** Options of a ranged read. */
export interface ReadRangeOptions {
  signal?: AbortSignal;
  /** Fail with INGOT_STORE_CHANGED unless the object still has this `etag` (from `stat()`). */
  ifMatch?: string;
}

/**
 * A streaming write that survives its writer: bytes already written by an
 * earlier, interrupted attempt with the same `id` are kept, `offset` says how
 * many, and `existing()` reads them back (to hash them before appending).
 * Exactly one of `commit()`, `abort()` (discard) or `suspend()` (keep the
 * bytes for the next attempt) is called.
 */
export interface ResumableUpload extends Upload {
  readonly offset: number;
  existing(): Promise<Readable>;
  suspend(): Promise<void>;
}

/**
 * A write in progress. Bytes written to `writable` are invisible under `key`
 * until `commit()`; `abort()` discards them. Exactly one of the two is called.
 */
export interface Upload {
  readonly writable: Writable;
  /**
   * The file the bytes go to, where the store is a local file (the directory
   * store): a writer may write it itself instead of through `writable` (a
   * decompressor given it as its stdout, see decompress-to-file.ts), and then
   * ends `writable` without writing to it, which fsyncs and closes the file.
   */
  readonly direct?: DirectFile;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export interface UploadOptions {
  /** Expected size in bytes, when known (lets S3 choose a part size). */
  sizeHint?: number;
  signal?: AbortSignal;
}

/** Options of `StoreBackend.get`. */
export interface GetOptions {
  /**
   * Refuse (INGOT_OBJECT_TOO_LARGE) an object larger than this instead of
   * reading it: what is read before a signature is checked must be bounded.
   */
  maxBytes?: number;
}

/** Held while a run mutates a store; released with `release()`. */
export interface StoreLock {
  release(): Promise<void>;
}

export interface LockOptions {
  owner: string;
  /** How long to wait for another holder, in ms (0 = fail at once). */
  timeoutMs: number;
  /** Lock lifetime after which another run may break it, in ms. */
  ttlMs: number;
  breakExpired: boolean;
  signal?: AbortSignal;
}

/** A multipart upload left pending (by a killed run); invisible but billed. */
export interface IncompleteUpload {
  key: string;
  uploadId: string;
  initiated: Date | undefined;
}

export interface StoreBackend {
  /** "fs" or "s3", for messages and metadata. */
  readonly kind: string;
  /** A URL safe to print (no credentials). */
  readonly displayUrl: string;
  /** Reads a small object whole (at most `options.maxBytes`); undefined when absent. */
  get(key: string, signal?: AbortSignal, options?: GetOptions): Promise<Buffer | undefined>;
  /** Writes a small object atomically (readers see the old or the new bytes). */
  put(key: string, data: Uint8Array | string, signal?: AbortSignal): Promise<void>;
  /** Streams an object's bytes. */
  read(key: string, signal?: AbortSignal): Promise<Readable>;
  /**
   * Streams part of an object (one ranged request where the backend has them).
   * Optional: `readRange()` in ranges.ts falls back to `read()` and skips.
   */
  readRange?(key: string, range: ByteRange, options?: ReadRangeOptions): Promise<Readable>;
  stat(key: string, signal?: AbortSignal): Promise<BlobInfo | undefined>;
  /** Starts a streaming write that becomes visible only on commit. */
  upload(key: string, options?: UploadOptions): Promise<Upload>;
  /**
   * Starts or resumes a write identified by `id` (callers derive it from the
   * expected digest, so bytes of another version are never appended to).
   * Optional; callers fall back to `upload()`.
   */
  resumableUpload?(key: string, id: string, options?: UploadOptions): Promise<ResumableUpload>;
  /** Every object under a prefix ("" = all), in key order within a listing page. */
  list(prefix: string, signal?: AbortSignal): AsyncIterable<BlobInfo>;
  /** Deletes objects; absent keys are not an error. */
  delete(keys: readonly string[], signal?: AbortSignal): Promise<void>;
  /** Takes the store's run lock. */
  lock(options: LockOptions): Promise<StoreLock>;
  /** Pending multipart uploads under the store (S3 only). */
  listIncompleteUploads?(signal?: AbortSignal): AsyncIterable<IncompleteUpload>;
  /** Aborts pending multipart uploads started more than `olderThanMs` ago; returns those aborted. */
  abortIncompleteUploads?(olderThanMs: number, signal?: AbortSignal): Promise<IncompleteUpload[]>;
  close(): Promise<void>;
}
