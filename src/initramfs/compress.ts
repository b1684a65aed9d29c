/**
 * Compression for initramfs images, each set up for byte-identical output
 * and for what the kernel's decompressors accept:
 *
 *   gzip  Node's zlib. Its header has no name and mtime 0 already; the OS byte
 *         is pinned to 3 (Unix, as `gzip -n` writes) so the output does not
 *         depend on the platform Node was built for.
 *   zstd  the zstd binary, single-threaded (-T1), default level 19.
 *   xz    the xz binary, single-threaded, --check=crc32 and a 1 MiB
 *         dictionary: the kernel's xz decoder knows no CRC64.
 *   none  the plain newc archive.
 *
 * The same inputs give the same bytes with the same zlib / zstd / xz version;
 * that version is part of the build facts.
 */
import { Transform, type Duplex, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';
import { ErrorCode, IngotError } from '../errors.js';
import { which } from '../exec/which.js';
import { ChildStream } from '../transform/child-stream.js';
import { formatBytes } from '../transform/decompress.js';

export const INITRAMFS_COMPRESSIONS = ['gzip', 'zstd', 'xz', 'none'] as const;
export type InitramfsCompression = (typeof INITRAMFS_COMPRESSIONS)[number];

/** Levels: gzip 1–9 (default 6, like `gzip -n`), zstd 1–19 (default 19), xz 0–9 (default 6). */
export const LEVELS = {
  gzip: { min: 1, max: 9, default: 6 },
  zstd: { min: 1, max: 19, default: 19 },
  xz: { min: 0, max: 9, default: 6 },
  none: { min: 0, max: 0, default: 0 },
} as const satisfies Record<InitramfsCompression, { min: number; max: number; default: number }>;

export interface Compressor {
  /** e.g. "gzip -6 (node zlib 1.3.0.1-motley)": recorded in build facts. */
  label: string;
  /** The stages to put in a pipeline, in order (one or two streams). */
  create(): Duplex[];
}

/** The compressor for `kind` at `level` (default per kind). Throws INGOT_TOOL_MISSING when zstd/xz are not installed. */
export function compressor(kind: InitramfsCompression, level?: number, env: NodeJS.ProcessEnv = process.env): Compressor {
  const chosen = level ?? LEVELS[kind].default;
  const range = LEVELS[kind];
  if (kind !== 'none' && (!Number.isInteger(chosen) || chosen < range.min || chosen > range.max)) {
    throw new IngotError(ErrorCode.initramfsInput, `${kind} level ${chosen} is out of range ${range.min}–${range.max}`, { exitCode: 2 });
  }
  switch (kind) {
    case 'none':
      return { label: 'none', create: () => [] };
    case 'gzip':
      return {
        label: `gzip -${chosen} (node zlib ${process.versions.zlib})`,
        create: () => [zlib.createGzip({ level: chosen, memLevel: 8, chunkSize: 1 << 20 }), pinGzipOs()],
      };
    case 'zstd': {
      const zstd = tool('zstd', 'zstd', env);
      return { label: `zstd -${chosen} -T1`, create: () => [new ChildStream(zstd, ['-q', '-c', '-T1', `-${chosen}`, '--no-progress'], failed('zstd'))] };
    }
    case 'xz': {
      const xz = tool('xz', 'xz-utils', env);
      return {
        label: `xz --check=crc32 --lzma2=preset=${chosen},dict=1MiB -T1`,
        create: () => [new ChildStream(xz, ['-q', '-c', '-T1', '--check=crc32', `--lzma2=preset=${chosen},dict=1MiB`], failed('xz'))],
      };
    }
  }
}

/** Offset of the OS byte in a gzip header (RFC 1952); 3 = Unix. */
const GZIP_OS_OFFSET = 9;
const GZIP_OS_UNIX = 3;

/** Rewrites the OS byte of the gzip header as it passes, leaving the deflate stream alone. */
function pinGzipOs(): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _e, callback: TransformCallback) {
      if (seen <= GZIP_OS_OFFSET && seen + chunk.length > GZIP_OS_OFFSET) {
        chunk = Buffer.from(chunk);
        chunk[GZIP_OS_OFFSET - seen] = GZIP_OS_UNIX;
      }
      seen += chunk.length;
      callback(null, chunk);
    },
  });
}

/**
 * Passes bytes until `limit` is exceeded, then keeps counting without
 * passing more, so the error can say how large the image really is.
 */
export class SizeLimitStream extends Transform {
  bytes = 0;
  constructor(
    private readonly limit: number,
    private readonly subject: string,
  ) {
    super({ highWaterMark: 1 << 20 });
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    callback(null, this.bytes > this.limit ? undefined : chunk);
  }
  override _flush(callback: TransformCallback): void {
    if (this.bytes <= this.limit) return callback();
    callback(
      new IngotError(
        ErrorCode.initramfsTooLarge,
        `${this.subject} is ${formatBytes(this.bytes)} (${this.bytes} bytes) compressed, over its sizeLimit of ${formatBytes(this.limit)} (${this.limit} bytes)`,
        {
          hint: 'leave files out, use a stronger compression (zstd or xz), or raise sizeLimit in the manifest',
          expected: String(this.limit),
          actual: String(this.bytes),
          details: { limit: this.limit, size: this.bytes },
        },
      ),
    );
  }
}

function tool(name: string, pkg: string, env: NodeJS.ProcessEnv): string {
  const found = which(name, env);
  if (!found) {
    throw new IngotError(ErrorCode.toolMissing, `${name} is not installed; it is needed for compression: ${name}`, {
      hint: `install it (apt-get install ${pkg}) or use compression: gzip`,
    });
  }
  return found;
}

const failed = (format: string) => (message: string) => new IngotError(ErrorCode.toolFailed, `${format} compression failed: ${message}`);
