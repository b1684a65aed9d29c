/**
 * A streaming write to S3 that stays invisible until `commit()`.
 *
 * Bytes are cut into parts as they arrive and sent with UploadPart, at most
 * `maxInFlight` at a time; `write()` waits while that many are pending, so
 * memory stays at about (maxInFlight + 1) × partSize whatever the object
 * size. A part's buffer is used again for a later part once its UploadPart
 * has succeeded: a fresh 8 MiB buffer per part made 1 GiB of new memory per
 * GiB uploaded, and garbage collections started by it. Nothing exists under the key until CompleteMultipartUpload, which
 * only `commit()` sends (after the caller has verified the digests); `abort()`
 * sends AbortMultipartUpload so no pending upload is left behind. An object
 * that ends before its first part is full is sent as one PutObject at commit.
 *
 * (@aws-sdk/lib-storage's Upload was not used: it completes the multipart
 * upload as soon as the stream ends, before ingot has checked the digests.)
 */
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Upload } from './backend.js';

type Sdk = typeof import('@aws-sdk/client-s3');

const MiB = 1024 * 1024;
/** The smallest part we send: S3 needs ≥ 5 MiB; 8 MiB keeps request overhead low. */
export const MIN_PART_SIZE = 8 * MiB;
/** S3's limits: 10,000 parts, 5 TiB per object, 5 GiB per part. */
export const MAX_PARTS = 10_000;
const MAX_OBJECT = 5 * 1024 * 1024 * MiB;
const MAX_PART = 5 * 1024 * MiB;

/**
 * The size of part `n` (1-based). With a size hint: a fixed size so the hint
 * fits in 10,000 parts (≥ 8 MiB, whole MiB). Without: 8 MiB doubling every
 * 1,000 parts, so 10,000 parts still reach 5 TiB (8 MiB × 1,000 × 1,023).
 */
export function partSizeFor(partNumber: number, sizeHint?: number): number {
  if (sizeHint !== undefined && sizeHint >= 0) {
    const target = Math.min(sizeHint, MAX_OBJECT);
    return Math.min(MAX_PART, Math.max(MIN_PART_SIZE, Math.ceil(target / MAX_PARTS / MiB) * MiB));
  }
  return Math.min(MAX_PART, MIN_PART_SIZE * 2 ** Math.floor((partNumber - 1) / 1000));
}

export interface S3UploadTarget {
  sdk: Sdk;
  client: S3Client;
  bucket: string;
  /** The full object key (store prefix included). */
  key: string;
  sizeHint?: number;
  maxInFlight: number;
  signal?: AbortSignal;
  /** Turns an SDK error into an IngotError (with the store-relative key). */
  wrap(error: unknown, op: string): Error;
}

/** Starts an invisible streaming write; see the module comment. */
export function createS3Upload(target: S3UploadTarget): Upload {
  const writer = new PartWriter(target);
  let settled = false;
  return {
    writable: writer,
    commit: async () => {
      if (settled) throw new Error('upload already settled');
      settled = true;
      try {
        if (!writer.writableFinished) await finished(writer);
        if (writer.failure) throw writer.failure;
        await writer.complete();
      } catch (error) {
        await writer.cancel();
        throw target.wrap(error, 'write');
      }
    },
    abort: async () => {
      if (settled) return;
      settled = true;
      await writer.cancel();
    },
  };
}

class PartWriter extends Writable {
  failure: Error | undefined;
  readonly #t: S3UploadTarget;
  readonly #controller = new AbortController();
  #chunks: Buffer[] = [];
  #buffered = 0;
  #partNumber = 0;
  #parts: { PartNumber: number; ETag: string | undefined }[] = [];
  #inFlight = new Set<Promise<void>>();
  #uploadId: Promise<string> | undefined;
  #small: Buffer | undefined;
  /** Buffers of parts whose upload succeeded, for the next parts. */
  #spare: Buffer[] = [];
  readonly #onAbort = () => this.#controller.abort(this.#t.signal?.reason);

  constructor(target: S3UploadTarget) {
    super({ highWaterMark: MiB });
    this.#t = target;
    target.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  get #opts() {
    return { abortSignal: this.#controller.signal };
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (this.#buffered < partSizeFor(this.#partNumber + 1, this.#t.sizeHint)) return callback();
    this.#flushFull().then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    (async () => {
      if (this.#uploadId === undefined) {
        this.#small = this.#take(this.#buffered).part;
        return;
      }
      if (this.#buffered > 0) {
        const { part, backing } = this.#take(this.#buffered);
        await this.#send(part, backing);
      }
      await Promise.all(this.#inFlight);
      if (this.failure) throw this.failure;
    })().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (error) this.failure ??= error;
    callback(error);
  }

  /** Makes the object visible: CompleteMultipartUpload, or one PutObject for a small object. */
  async complete(): Promise<void> {
    const { sdk, client, bucket, key } = this.#t;
    this.#detach();
    if (this.#uploadId === undefined) {
      const body = this.#small ?? Buffer.alloc(0);
      await client.send(new sdk.PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length }), this.#opts);
      return;
    }
    const uploadId = await this.#uploadId;
    const parts = [...this.#parts].sort((a, b) => a.PartNumber - b.PartNumber);
    // RGW answers with an empty ETag here; we never rely on it (digests live in metadata).
    await client.send(new sdk.CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }), this.#opts);
  }

  /**
   * Stops writing and removes the pending multipart upload, if any. Parts in
   * flight are let finish first: RGW keeps an upload alive when a part lands
   * while the abort is processed. Never throws; a leftover upload is what
   * `prune --incomplete` is for.
   */
  async cancel(): Promise<void> {
    this.#detach();
    if (!this.destroyed) this.destroy();
    await Promise.allSettled(this.#inFlight);
    const pending = this.#uploadId;
    this.#uploadId = undefined;
    if (pending === undefined) return;
    const uploadId = await pending.catch(() => undefined);
    if (uploadId === undefined) return;
    const { sdk, client, bucket, key } = this.#t;
    // No signal: the abort must go out even when the run was interrupted.
    await client.send(new sdk.AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
  }

  // One listener per upload on a run-wide signal: remove it when done, or a sync of many images leaks them.
  #detach(): void {
    this.#t.signal?.removeEventListener('abort', this.#onAbort);
    // Done: the spare part buffers go now, not whenever the writer is collected.
    this.#spare = [];
  }

  async #flushFull(): Promise<void> {
    for (;;) {
      const size = partSizeFor(this.#partNumber + 1, this.#t.sizeHint);
      if (this.#buffered < size) return;
      const { part, backing } = this.#take(size);
      await this.#send(part, backing);
    }
  }

  /** The first `size` buffered bytes, copied into the start of `backing` (a spare buffer when one is large enough). */
  #take(size: number): { part: Buffer; backing: Buffer } {
    const spare = this.#spare.findIndex((b) => b.length >= size);
    const backing = spare >= 0 ? this.#spare.splice(spare, 1)[0]! : Buffer.allocUnsafeSlow(size);
    const part = backing.subarray(0, size);
    let filled = 0;
    while (filled < size) {
      const chunk = this.#chunks[0]!;
      const n = chunk.copy(part, filled, 0, Math.min(chunk.length, size - filled));
      filled += n;
      if (n === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(n);
    }
    this.#buffered -= size;
    return { part, backing };
  }

  /** Sends one part; `reusable` goes back to the spares once the part is stored. */
  async #send(body: Buffer, reusable: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    const { sdk, client, bucket, key } = this.#t;
    this.#uploadId ??= client.send(new sdk.CreateMultipartUploadCommand({ Bucket: bucket, Key: key }), this.#opts).then((out) => {
      if (!out.UploadId) throw new Error('CreateMultipartUpload returned no UploadId');
      return out.UploadId;
    });
    const uploadId = await this.#uploadId;
    while (this.#inFlight.size >= this.#t.maxInFlight) await Promise.race(this.#inFlight);
    if (this.failure) throw this.failure;
    if (this.destroyed) throw new Error('upload cancelled');
    const partNumber = ++this.#partNumber;
    if (partNumber > MAX_PARTS) throw new Error(`more than ${MAX_PARTS} parts: the size hint was too small`);
    const task: Promise<void> = client
      .send(
        new sdk.UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length }),
        this.#opts,
      )
      .then((out) => {
        this.#parts.push({ PartNumber: partNumber, ETag: out.ETag });
        // Sent and answered: the SDK holds the body no longer. A failed part's buffer is never reused,
        // and once the writer is done (finished or cancelled) no part comes to take it.
        if (!this.destroyed && this.#spare.length <= this.#t.maxInFlight) this.#spare.push(reusable);
      })
      .catch((error: unknown) => {
        this.failure ??= error instanceof Error ? error : new Error(String(error));
      })
      .finally(() => this.#inFlight.delete(task));
    this.#inFlight.add(task);
  }
}
