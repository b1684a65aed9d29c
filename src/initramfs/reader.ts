/**
 * The streaming archive reader: headers (and, on request, data) out of a
 * stream of uncompressed newc bytes. Like the kernel, it accepts several
 * archives one after another (NUL padding between them) and stops at the end
 * of the input. `openArchive` sniffs the compression first.
 *
 * Hostile archives are bounded: compressed archives nested inside each other
 * at most `MAX_NESTING` deep, decompressed bytes (all layers together) at most
 * `maxDecompressedSize`, symlink targets at most PATH_MAX, and an input with
 * no cpio header at all (say, gigabytes of NUL) is an error, not "0 entries".
 */
import { pipeline, Readable, Transform, type TransformCallback } from 'node:stream';
import { ErrorCode, IngotError } from '../errors.js';
import { decompressor, formatBytes, type DecompressorPreference } from '../transform/decompress.js';
import { decodeHeader, FileType, pad4, S_IFMT, TRAILER_NAME, type CpioHeader } from './header.js';
import { escapeName } from './listing.js';

/** Archives nested in archives (a compressed one after a trailer, inside another), as deep as this. */
export const MAX_NESTING = 8;
/** Default cap on the bytes all decompression layers of one archive may produce. */
export const DEFAULT_MAX_DECOMPRESSED = 4 * 2 ** 30;

/** PATH_MAX: no real symlink target is longer. */
const SYMLINK_MAX = 4096;

/** One member as read back. `data` is present for symlinks always, for files when `withData` is set. */
export interface ReadEntry {
  header: CpioHeader;
  /** Byte offset of the header in the uncompressed stream. */
  offset: number;
  data?: Buffer;
  /** Symlink target. */
  target?: string;
}

export interface ReadOptions {
  /** Keep file contents in memory (tests, small archives). Default false: data is skipped. */
  withData?: boolean;
  /** Also yield the TRAILER!!! entries. Default false. */
  trailers?: boolean;
  /**
   * Called when, after a trailer, the input goes on with something that is
   * not newc (a compressed archive after an uncompressed early one, as in
   * Debian's initrd.img); it reads the rest. Without it, that is an error.
   */
  onForeign?: (rest: AsyncIterable<Buffer>, offset: number) => AsyncIterable<ReadEntry>;
}

export interface OpenOptions extends Omit<ReadOptions, 'onForeign'> {
  /** Which decoders to use (see `decompressor`). Default auto. */
  decompressor?: DecompressorPreference;
  /** Cap on decompressed bytes, all layers together. Default 4 GiB. */
  maxDecompressedSize?: number;
}

/** Yields the members of one or more concatenated newc archives. Throws INGOT_CPIO_INVALID on corrupt or truncated input. */
export async function* readArchive(source: AsyncIterable<Buffer>, options: ReadOptions = {}): AsyncGenerator<ReadEntry> {
  let buf: Buffer = Buffer.alloc(0);
  let consumed = 0; // bytes of the stream before `buf`
  const iterator = source[Symbol.asyncIterator]();
  let done = false;
  const more = async (): Promise<boolean> => {
    if (done) return false;
    const next = await iterator.next();
    if (next.done) {
      done = true;
      return false;
    }
    buf = buf.length === 0 ? next.value : Buffer.concat([buf, next.value]);
    return true;
  };
  const drop = (n: number) => {
    buf = buf.subarray(n);
    consumed += n;
  };
  /** Drops `n` bytes, reading (and discarding) as needed; keeps them when `keep`. */
  const take = async (n: number, keep: boolean): Promise<Buffer | undefined> => {
    const parts: Buffer[] = [];
    let left = n;
    while (left > 0) {
      if (buf.length === 0 && !(await more())) return undefined;
      const piece = buf.subarray(0, Math.min(left, buf.length));
      if (keep) parts.push(Buffer.from(piece));
      drop(piece.length);
      left -= piece.length;
    }
    return keep ? Buffer.concat(parts, n) : Buffer.alloc(0);
  };

  let sawHeader = false;
  for (;;) {
    // Between archives: skip NUL padding; a clean end of input is fine there.
    while (buf.length > 0 || (await more())) {
      const nonZero = firstNonZero(buf);
      if (nonZero >= 0) {
        drop(nonZero);
        break;
      }
      drop(buf.length);
    }
    if (buf.length === 0) {
      if (!sawHeader) {
        throw new IngotError(ErrorCode.cpioInvalid, `no cpio header in ${consumed} bytes (only NUL padding)`, {
          hint: 'the file is not an initramfs, or it is corrupt or hostile',
        });
      }
      return;
    }
    while (buf.length < 6 && (await more()));
    if (consumed > 0 && buf.toString('latin1', 0, 4) !== '0707' && options.onForeign) {
      const head = buf;
      const rest = (async function* () {
        yield head;
        for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
      })();
      yield* options.onForeign(rest, consumed);
      return;
    }

    for (;;) {
      let decoded = decodeHeader(buf);
      while (!decoded) {
        if (!(await more())) throw truncated(consumed, 'a header');
        decoded = decodeHeader(buf);
      }
      const offset = consumed;
      const { header, length } = decoded;
      sawHeader = true;
      drop(length);
      // TRAILER!!! ends the archive whatever its type or size (as the kernel and libarchive read it):
      // its body is skipped, never kept, and an input that ends inside it has simply ended.
      if (header.name === TRAILER_NAME) {
        if ((await take(header.fileSize + pad4(header.fileSize), false)) === undefined) return;
        if (options.trailers) yield { header, offset };
        break;
      }
      const isSymlink = (header.mode & S_IFMT) === FileType.symlink;
      // A symlink's target is kept in memory: refuse absurd sizes before buffering them.
      if (isSymlink && header.fileSize > SYMLINK_MAX) {
        throw new IngotError(ErrorCode.cpioInvalid, `symlink "${escapeName(header.name)}" claims a ${header.fileSize}-byte target (limit ${SYMLINK_MAX})`, {
          hint: 'the archive is corrupt or hostile',
        });
      }
      const keep = isSymlink || options.withData === true;
      const data = await take(header.fileSize, keep);
      if (!data) throw truncated(consumed, `the data of "${escapeName(header.name)}"`);
      if ((await take(pad4(header.fileSize), false)) === undefined) throw truncated(consumed, `the padding after "${escapeName(header.name)}"`);
      yield {
        header,
        offset,
        ...(keep && !isSymlink ? { data } : {}),
        ...(isSymlink ? { target: data.toString('utf8'), ...(options.withData ? { data } : {}) } : {}),
      };
    }
  }
}

/** Compression of an initramfs, from its first bytes. */
export type Sniffed = 'gzip' | 'zstd' | 'xz' | 'none';

/** Recognises gzip, zstd, xz and plain newc by magic number. */
export function sniffCompression(head: Buffer): Sniffed | undefined {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.toString('latin1', 0, 4) === '0707') return 'none';
  return undefined;
}

/** Decompresses (when needed) and reads an archive from a byte stream. */
export async function openArchive(
  source: AsyncIterable<Buffer>,
  options: OpenOptions = {},
): Promise<{ compression: Sniffed; entries: AsyncGenerator<ReadEntry> }> {
  const limit = options.maxDecompressedSize ?? DEFAULT_MAX_DECOMPRESSED;
  return openLayer(source, options, { limit, used: 0 }, 1);
}

/** Decompressed bytes so far, all layers together, against the cap. */
interface Budget {
  limit: number;
  used: number;
}

async function openLayer(
  source: AsyncIterable<Buffer>,
  options: OpenOptions,
  budget: Budget,
  depth: number,
): Promise<{ compression: Sniffed; entries: AsyncGenerator<ReadEntry> }> {
  if (depth > MAX_NESTING) {
    throw new IngotError(ErrorCode.cpioLimit, `archives nested more than ${MAX_NESTING} deep (a compressed archive inside an archive inside …)`, {
      hint: 'a real initramfs has one or two layers (early microcode + the main archive); this file is corrupt or hostile',
      details: { limit: MAX_NESTING },
    });
  }
  const iterator = source[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  while (head.length < 6) {
    const next = await iterator.next();
    if (next.done) break;
    head = Buffer.concat([head, next.value]);
  }
  const compression = head.length >= 6 ? sniffCompression(head) : undefined;
  if (!compression) {
    throw new IngotError(ErrorCode.cpioInvalid, 'not a cpio archive (neither newc nor gzip, zstd or xz compressed)', {
      hint: 'check the file; other compressions (lz4, bzip2, lzma) are not supported',
    });
  }
  const rest = Readable.from(
    (async function* () {
      yield head;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    })(),
    { objectMode: false },
  );
  // The callback form of pipeline returns the last stream; an error anywhere destroys it, so the reader sees it.
  const raw =
    compression === 'none'
      ? rest
      : pipeline(rest, decompressor(compression, options.decompressor ?? 'auto').create(), new BudgetStream(budget), () => undefined);
  // A compressed archive may follow an uncompressed one (early microcode + main image).
  const onForeign = async function* (more: AsyncIterable<Buffer>): AsyncGenerator<ReadEntry> {
    yield* (await openLayer(more, options, budget, depth + 1)).entries;
  };
  const { decompressor: _d, maxDecompressedSize: _m, ...read } = options;
  return { compression, entries: decompressionErrors(readArchive(raw, { ...read, onForeign }), compression) };
}

/** Counts decompressed bytes into the shared budget; fails past the cap. */
class BudgetStream extends Transform {
  constructor(private readonly budget: Budget) {
    super({ highWaterMark: 1 << 20 });
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, callback: TransformCallback): void {
    this.budget.used += chunk.length;
    if (this.budget.used > this.budget.limit) {
      callback(
        new IngotError(ErrorCode.decompressLimit, `the archive decompresses to more than ${formatBytes(this.budget.limit)}`, {
          hint: 'a decompression bomb, or a very large archive: if it is real, raise --max-decompressed-size',
          details: { limit: this.budget.limit },
        }),
      );
      return;
    }
    callback(null, chunk);
  }
}

/** Index of the first non-NUL byte, or -1 (fast: NUL padding can be long). */
function firstNonZero(buf: Buffer): number {
  for (let i = 0; i < buf.length; i += 4096) {
    const end = Math.min(buf.length, i + 4096);
    // Compare a block with zeros before scanning it byte by byte.
    if (buf.subarray(i, end).equals(ZEROS.subarray(0, end - i))) continue;
    for (let j = i; j < end; j++) if (buf[j] !== 0) return j;
  }
  return -1;
}
const ZEROS = Buffer.alloc(4096);

/** Turns a decompressor's raw error ("unexpected end of file") into INGOT_CPIO_INVALID with the format named. */
async function* decompressionErrors(entries: AsyncGenerator<ReadEntry>, compression: Sniffed): AsyncGenerator<ReadEntry> {
  try {
    yield* entries;
  } catch (error) {
    if (error instanceof IngotError && error.code !== ErrorCode.decompressFailed) throw error;
    const reason = (error as Error).message.replace(/^\w+ decompression failed: /, '');
    throw new IngotError(ErrorCode.cpioInvalid, `cannot read the ${compression === 'none' ? '' : `${compression}-compressed `}archive: ${reason}`, {
      hint: 'the file is truncated or corrupt',
      cause: error,
    });
  }
}

function truncated(offset: number, what: string): IngotError {
  return new IngotError(ErrorCode.cpioInvalid, `truncated cpio archive: the input ends at byte ${offset} in ${what}`, {
    hint: 'the archive is incomplete (an interrupted download or build?)',
  });
}
