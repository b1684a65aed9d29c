/**
 * Hashing on the way through a stream: a Transform that passes every chunk on
 * unchanged and feeds it to one or more hashes, counting bytes as it goes.
 */
import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { formatDigest, type Algorithm, type Digest } from './digest.js';

/** Several digests of the same bytes, and their count: what a hashing pass gives. */
export interface Digested {
  readonly bytes: number;
  /** The digest once every byte is in. */
  digest(algorithm: Algorithm): Digest;
}

/** Feeds every chunk to one hash per algorithm and counts; the digests are taken once, at the end. */
export class Digests implements Digested {
  #hashes: Map<Algorithm, Hash>;
  #digests: Map<Algorithm, Digest> | undefined;
  bytes = 0;

  constructor(algorithms: Iterable<Algorithm>) {
    this.#hashes = new Map([...new Set(algorithms)].map((a) => [a, createHash(a)]));
  }

  update(chunk: Uint8Array): void {
    for (const hash of this.#hashes.values()) hash.update(chunk);
    this.bytes += chunk.length;
  }

  /** Ends the hashes; later calls to {@link digest} give what they had. */
  finish(): void {
    this.#digests ??= new Map([...this.#hashes].map(([a, h]) => [a, formatDigest(a, h.digest('hex'))]));
  }

  digest(algorithm: Algorithm): Digest {
    const value = this.#digests?.get(algorithm);
    if (!value) throw new Error(`digest ${algorithm} requested before the bytes ended or was not computed`);
    return value;
  }
}

/** A pass-through stream that hashes and counts what flows through it. */
export class HashingStream extends Transform implements Digested {
  readonly #digests: Digests;

  constructor(
    algorithms: Iterable<Algorithm>,
    private readonly onBytes?: (n: number) => void,
  ) {
    super({ highWaterMark: 1 << 20 });
    this.#digests = new Digests(algorithms);
  }

  get bytes(): number {
    return this.#digests.bytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#digests.update(chunk);
    this.onBytes?.(chunk.length);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#digests.finish();
    callback();
  }

  /** The digest once the stream has ended. */
  digest(algorithm: Algorithm): Digest {
    return this.#digests.digest(algorithm);
  }
}

/** Hashes a whole readable (a file, a stored object) and returns digest and size. */
export async function hashStream(
  source: AsyncIterable<Buffer>,
  algorithm: Algorithm,
  onBytes?: (n: number) => void,
): Promise<{ digest: Digest; size: number }> {
  const hash = createHash(algorithm);
  let size = 0;
  for await (const chunk of source) {
    hash.update(chunk);
    size += chunk.length;
    onBytes?.(chunk.length);
  }
  return { digest: formatDigest(algorithm, hash.digest('hex')), size };
}

/** Bytes per read in {@link readFileChunks}: large reads keep syscalls and event-loop turns few. */
export const FILE_CHUNK = 2 << 20;

/**
 * Read buffers kept between calls. Touching fresh memory costs more than
 * hashing it on this class of machine (a VM faults each new page in: 4 MiB
 * of new buffers added ~17 ms to a 32 ms verify of 20 MiB), so finished
 * reads give their pair back; at most {@link SPARE_PAIRS} pairs are kept.
 */
const spare: Buffer[][] = [];
const SPARE_PAIRS = 2;

/** Options of {@link readFileChunks}. */
export interface ReadChunksOptions {
  /** Bytes per read; the default size's buffers are pooled. */
  chunkSize?: number;
  /**
   * For a file another process is still writing: called when a read finds
   * no more bytes. Resolve true to read again from there (after waiting for
   * the writer), false to end. Without it, the first empty read ends.
   */
  follow?: () => Promise<boolean>;
}

/**
 * Reads a whole file in large chunks, overlapping the next read (in libuv's
 * thread pool) with the caller's work on the current chunk, and returns the
 * size. `onChunk` runs synchronously and must not keep the buffer: it is
 * reused for a later read, and by later calls (copy it if you need it).
 */
export async function readFileChunks(file: string, onChunk: (chunk: Buffer) => void, options: ReadChunksOptions = {}): Promise<number> {
  const chunkSize = options.chunkSize ?? FILE_CHUNK;
  const handle = await open(file, 'r');
  const pooled = chunkSize === FILE_CHUNK;
  const buffers = (pooled && spare.pop()) || [Buffer.allocUnsafeSlow(chunkSize), Buffer.allocUnsafeSlow(chunkSize)];
  let pending: Promise<{ bytesRead: number }> | undefined;
  try {
    let current = 0;
    let size = 0;
    pending = handle.read(buffers[0]!, 0, chunkSize, 0);
    for (;;) {
      const { bytesRead } = await pending;
      pending = undefined;
      if (bytesRead === 0) {
        if (!(await options.follow?.())) return size;
        pending = handle.read(buffers[current]!, 0, chunkSize, size);
        continue;
      }
      const chunk = buffers[current]!.subarray(0, bytesRead);
      size += bytesRead;
      current ^= 1;
      pending = handle.read(buffers[current]!, 0, chunkSize, size);
      onChunk(chunk);
    }
  } finally {
    // A read still in flight writes into a buffer: wait for it before the pair can be reused.
    await pending?.catch(() => undefined);
    await handle.close();
    if (pooled && spare.length < SPARE_PAIRS) spare.push(buffers);
  }
}

/** Feeds every byte of a file to each of `hashes` in one read; returns the size. */
export async function hashFile(file: string, hashes: readonly { update(data: Buffer): unknown }[]): Promise<number> {
  return readFileChunks(file, (chunk) => {
    for (const hash of hashes) hash.update(chunk);
  });
}
