/**
 * The streaming archive writer: headers and data in order, each padded to 4
 * bytes, then the trailer. File bytes are read only when their entry comes
 * up, so memory stays flat; small pieces are gathered into ~256 KiB chunks so
 * a compressor downstream is not fed thousands of tiny writes.
 */
import { Readable } from 'node:stream';
import { ErrorCode, IngotError } from '../errors.js';
import { encodeHeader, pad4, trailerHeader } from './header.js';
import type { PlannedEntry } from './layout.js';

const CHUNK = 256 * 1024;
/** Small files are read this many entries ahead, so the thread pool reads several while one is written. */
const LOOKAHEAD = 16;
const SMALL = 1 << 20;
const ZEROS = Buffer.alloc(4);

/** A readable stream of the whole uncompressed newc archive. */
export function archiveStream(entries: Iterable<PlannedEntry>, options: { signal?: AbortSignal } = {}): Readable {
  return Readable.from(archiveChunks(entries, options.signal), { objectMode: false, highWaterMark: 1 << 20 });
}

/** The archive as a sequence of buffers (what `archiveStream` reads from). */
export async function* archiveChunks(entries: Iterable<PlannedEntry>, signal?: AbortSignal): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const take = (): Buffer => {
    const out = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return out;
  };
  const add = (piece: Buffer) => {
    pending.push(piece);
    pendingBytes += piece.length;
  };

  const list = [...entries];
  const ahead = new Map<number, ReturnType<NonNullable<PlannedEntry['data']>['read']>>();
  let next = 0;
  for (const [i, { header, data }] of list.entries()) {
    signal?.throwIfAborted();
    // Keep reads of the next few small files in flight (a sliding window).
    for (; next < Math.min(i + LOOKAHEAD, list.length); next++) {
      const upcoming = list[next]!.data;
      if (!upcoming || upcoming.size > SMALL) continue;
      const pending = upcoming.read();
      // A failed read is reported when its entry comes up, not as an unhandled rejection now.
      if (pending instanceof Promise) pending.catch(() => undefined);
      ahead.set(next, pending);
    }
    add(encodeHeader(header));
    if (!data) continue;
    let written = 0;
    const early = ahead.get(i);
    ahead.delete(i);
    const source = await (early ?? data.read());
    if (Buffer.isBuffer(source)) {
      written = source.length;
      add(source);
    } else {
      for await (const chunk of source) {
        written += chunk.length;
        if (written > data.size) break;
        if (chunk.length >= CHUNK) {
          if (pendingBytes > 0) yield take();
          yield chunk;
        } else {
          add(chunk);
          if (pendingBytes >= CHUNK) yield take();
        }
      }
    }
    if (written !== data.size) {
      throw new IngotError(
        ErrorCode.initramfsInput,
        `${data.origin ?? header.name} changed while the archive was written: expected ${data.size} bytes, read ${written}`,
        {
          path: header.name,
          hint: 'do not modify the inputs during a build; run it again',
        },
      );
    }
    const padding = pad4(written);
    if (padding) add(ZEROS.subarray(0, padding));
    if (pendingBytes >= CHUNK) yield take();
  }
  add(encodeHeader(trailerHeader()));
  yield take();
}
