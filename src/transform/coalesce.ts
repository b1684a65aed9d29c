/**
 * Joins small chunks into larger ones. A TLS download arrives in 16 KiB
 * records; handed on one by one, each costs a pipe write and a wake-up of
 * the decompressor (or a thread-pool job for in-process gunzip). This stage
 * gathers what arrives in one turn of the event loop, up to {@link BATCH}
 * bytes, and passes it on as one chunk. It never holds bytes back longer
 * than that turn, so a slow source is not delayed, and it keeps at most one
 * batch beyond the stream's own buffer.
 */
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Bytes that make a batch: a batch is passed on as soon as it reaches this
 * size (so a chunk is at most BATCH plus one incoming chunk). Measured on
 * 1 GiB zstd: 64 KiB, 256 KiB and 1 MiB batches within noise of each other.
 */
export const BATCH = 256 << 10;

export class CoalesceStream extends Transform {
  #parts: Buffer[] = [];
  #bytes = 0;
  #scheduled = false;

  constructor(private readonly batch = BATCH) {
    super({ highWaterMark: batch });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#parts.push(chunk);
    this.#bytes += chunk.length;
    if (this.#bytes >= this.batch) this.#pass();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        if (!this.destroyed) this.#pass();
      });
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.#pass();
    callback();
  }

  #pass(): void {
    if (this.#bytes === 0) return;
    const out = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts, this.#bytes);
    this.#parts = [];
    this.#bytes = 0;
    this.push(out);
  }
}
