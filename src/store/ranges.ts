/**
 * Ranged reads over any backend: one ranged request where the backend has
 * `readRange`, otherwise the whole stream with the bytes outside the range
 * dropped on the way (correct, only slower).
 */
import { Readable } from 'node:stream';
import type { ByteRange, ReadRangeOptions, StoreBackend } from './backend.js';

/** Streams `range` of `key` (inclusive end, as in HTTP). */
export async function readRange(backend: StoreBackend, key: string, range: ByteRange, options: ReadRangeOptions = {}): Promise<Readable> {
  if (backend.readRange) return backend.readRange(key, range, options);
  const whole = await backend.read(key, options.signal);
  return sliceStream(whole, range.start, range.end);
}

/** The bytes `start`..`end` (inclusive) of a stream; the source is destroyed once past `end`. */
export function sliceStream(source: Readable, start: number, end: number | undefined): Readable {
  return Readable.from(slice(source, start, end), { objectMode: false });
}

async function* slice(source: Readable, start: number, end: number | undefined): AsyncGenerator<Buffer> {
  let offset = 0;
  for await (const chunk of source) {
    const from = Math.max(0, start - offset);
    const to = end === undefined ? chunk.length : Math.min(chunk.length, end + 1 - offset);
    offset += chunk.length;
    if (to > from) yield chunk.subarray(from, to);
    if (end !== undefined && offset > end) {
      source.destroy();
      return;
    }
  }
}
