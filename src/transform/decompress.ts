/**
 * Decompression streams, fastest first (measured: see bench/ and the README):
 *
 *   gzip  Node's zlib (faster here than the gzip binary: 2.1 s vs 5.3 s per GiB)
 *   xz    the xz binary with -T0 (multi-threaded on multi-block files), else a
 *         WebAssembly xz decoder (xz-decompress, ~10× slower but always there)
 *   zstd  Node's zlib where it has zstd (Node ≥ 22.15), else the zstd binary,
 *         else fzstd (pure JS)
 *
 * Output is capped: `CapStream` fails the pipeline once more than `limit`
 * bytes come out, which stops decompression bombs.
 */
import { Duplex, PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';
import { ErrorCode, IngotError } from '../errors.js';
import { which } from '../exec/which.js';
import { ChildStream } from './child-stream.js';
import type { NativeTool } from './decompress-to-file.js';
import { JsZstdStream } from './zstd-js.js';

export const COMPRESSIONS = ['xz', 'gzip', 'zstd'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/** "auto" picks the fastest available; "builtin" avoids external programs. */
export type DecompressorPreference = 'auto' | 'native' | 'builtin';

export interface Decompressor {
  /** e.g. "xz (native, -T0)" — recorded in logs. */
  label: string;
  create(): Duplex;
  /** A native tool: it can also write a file itself (see decompress-to-file.ts). */
  native?: NativeTool;
}

const failed = (format: string) => (message: string) =>
  new IngotError(ErrorCode.decompressFailed, `${format} decompression failed: ${message}`, {
    hint: `the source is not valid ${format} data (wrong "decompress", or a corrupt download)`,
  });

/** Picks the decompressor for a format. */
export function decompressor(format: Compression, preference: DecompressorPreference = 'auto', env = process.env): Decompressor {
  const native = preference !== 'builtin';
  const builtinOnly = preference === 'builtin';
  switch (format) {
    case 'gzip':
      return { label: 'gzip (node zlib)', create: () => withFormatErrors(zlib.createGunzip({ chunkSize: 1 << 20 }), 'gzip') };
    case 'xz': {
      const xz = native ? which('xz', env) : undefined;
      if (xz) return nativeDecompressor('xz (native, -T0)', { command: xz, args: ['-dc', '-T0', '-q'], makeError: failed('xz') });
      if (preference === 'native') throw toolMissing('xz', 'xz-utils');
      return { label: 'xz (wasm)', create: wasmXz };
    }
    case 'zstd': {
      const zlibZstd = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;
      if (zlibZstd && !builtinOnly) return { label: 'zstd (node zlib)', create: () => withFormatErrors(zlibZstd(), 'zstd') };
      const zstd = native ? which('zstd', env) : undefined;
      if (zstd) return nativeDecompressor('zstd (native)', { command: zstd, args: ['-dcq'], makeError: failed('zstd') });
      if (preference === 'native') throw toolMissing('zstd', 'zstd');
      return { label: 'zstd (fzstd, js)', create: jsZstd };
    }
  }
}

function nativeDecompressor(label: string, native: NativeTool): Decompressor {
  return { label, native, create: () => new ChildStream(native.command, native.args, native.makeError) };
}

function toolMissing(tool: string, pkg: string): IngotError {
  return new IngotError(ErrorCode.toolMissing, `${tool} is not installed`, { hint: `install it (apt-get install ${pkg}) or use the builtin decompressor` });
}

/** xz through WebAssembly: input → web stream → XzReadableStream → node stream. */
function wasmXz(): Duplex {
  const input = new PassThrough({ highWaterMark: 1 << 20 });
  const output = new PassThrough({ highWaterMark: 1 << 20 });
  const duplex = Duplex.from({ writable: input, readable: output });
  import('xz-decompress')
    .then((module) => {
      // CommonJS module: the class sits on the default export under ESM.
      const { XzReadableStream } = ((module as unknown as { default?: typeof module }).default ?? module) as typeof module;
      const web = new XzReadableStream(Readable.toWeb(input) as unknown as ReadableStream<Uint8Array>);
      const readable = Readable.fromWeb(web as unknown as import('node:stream/web').ReadableStream<Uint8Array>);
      readable.on('error', (error) => duplex.destroy(failed('xz')(error.message)));
      readable.pipe(output);
    })
    .catch((error: Error) => duplex.destroy(error));
  return duplex;
}

/** zstd in pure JS (fzstd), fed one block at a time so memory stays bounded (see zstd-js.ts). */
function jsZstd(): Duplex {
  return new JsZstdStream(failed('zstd'));
}

/**
 * Gives a decoder's own errors (zlib's "incorrect header check", Z_DATA_ERROR)
 * the INGOT_DECOMPRESS_FAILED code; an abort or an IngotError passes as it is.
 */
function withFormatErrors<T extends Duplex>(stream: T, format: string): T {
  const destroy = stream._destroy.bind(stream);
  stream._destroy = (error: Error | null, callback: (error?: Error | null) => void) => {
    const plain = error && !(error instanceof IngotError) && error.name !== 'AbortError';
    destroy(plain ? failed(format)(error.message) : error, callback);
  };
  return stream;
}

/** Fails once more than `limit` bytes pass (decompression bombs, endless bodies); counts what it passed. */
export class CapStream extends Transform {
  bytes = 0;
  /**
   * @param what  the noun in the default error ("decompressed size", "size")
   * @param error builds the error instead of INGOT_DECOMPRESS_LIMIT (e.g. a size mismatch against a signed index)
   */
  constructor(
    private readonly limit: number,
    private readonly subject: string,
    private readonly what = 'decompressed size',
    private readonly error?: (limit: number) => Error,
  ) {
    super({ highWaterMark: 1 << 20 });
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      callback(this.error?.(this.limit) ?? capError(this.limit, this.subject, this.what));
      return;
    }
    callback(null, chunk);
  }
}

/** INGOT_DECOMPRESS_LIMIT: more than `limit` bytes came out for `subject`. */
export function capError(limit: number, subject: string, what = 'decompressed size'): IngotError {
  return new IngotError(ErrorCode.decompressLimit, `${what} exceeds the limit of ${formatBytes(limit)}: ${subject}`, {
    hint: 'if the image really is that large, raise maxDecompressedSize in the manifest or --max-decompressed-size',
    details: { limit },
  });
}

/** "1.5 GiB" */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  // Rates are fractional ("1.0125 B/s"): whole bytes below 1 KiB, one decimal under 10 of a unit.
  const shown = unit === 0 ? String(Math.round(value)) : value.toFixed(value >= 10 ? 0 : 1);
  // 1023.6 KiB would print as "1024 KiB": say "1.0 MiB" instead.
  if (Number(shown) >= 1024 && unit < units.length - 1) return `1.0 ${units[unit + 1]}`;
  return `${shown} ${units[unit]}`;
}

/** Parses "20MiB", "1.5 GiB", "500MB", "1024" (bytes). Undefined if malformed. */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$/i.exec(value);
  if (!match) return undefined;
  const n = Number(match[1]);
  const unit = (match[2] ?? 'B').toUpperCase();
  const factors: Record<string, number> = {
    B: 1,
    KB: 1e3,
    MB: 1e6,
    GB: 1e9,
    TB: 1e12,
    KIB: 2 ** 10,
    MIB: 2 ** 20,
    GIB: 2 ** 30,
    TIB: 2 ** 40,
  };
  const factor = factors[unit];
  if (factor === undefined) return undefined;
  const bytes = Math.round(n * factor);
  return bytes > 0 ? bytes : undefined;
}
