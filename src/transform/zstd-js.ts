/**
 * zstd in pure JavaScript (fzstd) with bounded memory.
 *
 * fzstd decodes everything it is given in one call and hands over all of the
 * output at once: 1 MB of hostile input (RLE blocks of 4 bytes, each claiming
 * up to 2 MiB of output) became gigabytes before any size cap downstream could
 * see a byte. So this stream never gives fzstd more than one block at a time:
 * `ZstdFramer` walks the frame structure (RFC 8878) as bytes arrive and says
 * where each block ends, the input is cut there, and the next block goes in
 * only when the reader has taken the output of the last one (backpressure).
 * What one push can produce is thereby bounded by the block limit (128 KiB),
 * and the decoder's own buffer by the window limit below.
 *
 * The framer also refuses what libzstd refuses by default: a window over
 * 128 MiB (fzstd would allocate up to 2 GiB for it), blocks larger than the
 * frame allows, reserved block types and header bits.
 */
import { Duplex } from 'node:stream';

/** zstd's default decoder limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT = 27): the zstd tool refuses more without --long/--memory. */
export const ZSTD_MAX_WINDOW = 128 * 1024 * 1024;
/** Block_Maximum_Size of the format. */
const MAX_BLOCK = 128 * 1024;
const FRAME_MAGIC = 0xfd2fb528;

type State =
  | { kind: 'magic' }
  | { kind: 'frame-header'; need: number }
  | { kind: 'skip-header' }
  | { kind: 'skip'; left: number }
  | { kind: 'block-header' }
  | { kind: 'block'; left: number; last: boolean }
  | { kind: 'checksum'; left: number };

/** A structural error in zstd input (the message is shown after "zstd decompression failed: "). */
export class ZstdFormatError extends Error {}

/**
 * Walks zstd frames as bytes arrive, without keeping them (only the few
 * header bytes it must read). `advance(chunk, from)` returns where the next
 * block ends within `chunk`, or `chunk.length` when no block ends in it.
 */
export class ZstdFramer {
  #state: State = { kind: 'magic' };
  /** Header bytes collected so far (a header may straddle chunks). */
  #head: number[] = [];
  #blockMax = MAX_BLOCK;
  #checksum = false;
  /** Whether the input seen so far ends between frames (a clean end). */
  get atBoundary(): boolean {
    return this.#state.kind === 'magic' && this.#head.length === 0;
  }

  advance(chunk: Uint8Array, from: number): number {
    let i = from;
    while (i < chunk.length) {
      const state = this.#state;
      switch (state.kind) {
        case 'magic':
        case 'skip-header':
        case 'block-header':
        case 'frame-header': {
          this.#head.push(chunk[i++]!);
          this.#onHeaderByte();
          break;
        }
        case 'skip': {
          const n = Math.min(state.left, chunk.length - i);
          i += n;
          state.left -= n;
          if (state.left === 0) this.#state = { kind: 'magic' };
          break;
        }
        case 'checksum': {
          const n = Math.min(state.left, chunk.length - i);
          i += n;
          state.left -= n;
          if (state.left === 0) this.#state = { kind: 'magic' };
          break;
        }
        case 'block': {
          const n = Math.min(state.left, chunk.length - i);
          i += n;
          state.left -= n;
          if (state.left === 0) {
            this.#endBlock(state.last);
            return i;
          }
          break;
        }
      }
      // A block with no content bytes (an empty raw block) ends with its header.
      const now = this.#state;
      if (now.kind === 'block' && now.left === 0) {
        this.#endBlock(now.last);
        return i;
      }
    }
    return i;
  }

  #endBlock(last: boolean): void {
    this.#state = last ? (this.#checksum ? { kind: 'checksum', left: 4 } : { kind: 'magic' }) : { kind: 'block-header' };
  }

  #onHeaderByte(): void {
    const head = this.#head;
    const state = this.#state;
    if (state.kind === 'magic') {
      if (head.length < 4) return;
      const magic = (head[0]! | (head[1]! << 8) | (head[2]! << 16) | (head[3]! << 24)) >>> 0;
      if (magic === FRAME_MAGIC) this.#state = { kind: 'frame-header', need: 5 };
      else if (magic >>> 4 === 0x184d2a5) this.#state = { kind: 'skip-header' };
      else throw new ZstdFormatError('not zstd data (unknown frame magic)');
      return;
    }
    if (state.kind === 'skip-header') {
      if (head.length < 8) return;
      const size = (head[4]! | (head[5]! << 8) | (head[6]! << 16) | (head[7]! << 24)) >>> 0;
      this.#head = [];
      this.#state = size === 0 ? { kind: 'magic' } : { kind: 'skip', left: size };
      return;
    }
    if (state.kind === 'frame-header') {
      if (head.length === 5) {
        const descriptor = head[4]!;
        if (descriptor & 0x08) throw new ZstdFormatError('reserved bit set in the frame header');
        const fcsFlag = descriptor >> 6;
        const single = (descriptor >> 5) & 1;
        const dictBytes = [0, 1, 2, 4][descriptor & 3]!;
        const fcsBytes = fcsFlag === 0 ? single : 1 << fcsFlag;
        state.need = 5 + (single ? 0 : 1) + dictBytes + fcsBytes;
      }
      if (head.length < state.need) return;
      this.#startFrame(head);
      return;
    }
    if (state.kind === 'block-header') {
      if (head.length < 3) return;
      const value = head[0]! | (head[1]! << 8) | (head[2]! << 16);
      this.#head = [];
      const last = (value & 1) === 1;
      const type = (value >> 1) & 3;
      const size = value >>> 3;
      if (type === 3) throw new ZstdFormatError('reserved block type');
      // Raw and RLE sizes are output sizes; a compressed block's size is its input, also bounded.
      if (size > this.#blockMax) throw new ZstdFormatError(`block of ${size} bytes exceeds the frame's block limit of ${this.#blockMax}`);
      this.#state = { kind: 'block', left: type === 1 ? 1 : size, last };
    }
  }

  #startFrame(head: number[]): void {
    const descriptor = head[4]!;
    const single = (descriptor >> 5) & 1;
    const fcsFlag = descriptor >> 6;
    const dictBytes = [0, 1, 2, 4][descriptor & 3]!;
    let window: number;
    if (single) {
      // The window is the whole content: its size is the frame content size.
      const at = 5 + dictBytes;
      const fcsBytes = fcsFlag === 0 ? 1 : 1 << fcsFlag;
      let fcs = 0;
      for (let b = fcsBytes - 1; b >= 0; b--) fcs = fcs * 256 + head[at + b]!;
      if (fcsFlag === 1) fcs += 256;
      window = fcs;
    } else {
      const w = head[5]!;
      const base = 2 ** (10 + (w >> 3));
      window = base + (base / 8) * (w & 7);
    }
    if (window > ZSTD_MAX_WINDOW) {
      throw new ZstdFormatError(
        `the frame needs a ${window}-byte window, over the limit of ${ZSTD_MAX_WINDOW} (zstd's default; made with --long=28 or more, or hostile)`,
      );
    }
    this.#blockMax = Math.min(window, MAX_BLOCK);
    this.#checksum = ((descriptor >> 2) & 1) === 1;
    this.#head = [];
    this.#state = { kind: 'block-header' };
  }
}

type Decoder = import('fzstd').Decompress;

/**
 * zstd decompression stream backed by fzstd, one block per push, honouring
 * backpressure: output waiting in the readable buffer stops the feeding.
 */
export class JsZstdStream extends Duplex {
  #framer = new ZstdFramer();
  #decoder: Decoder | undefined;
  /** The input chunk being fed and how far. */
  #chunk: Uint8Array | undefined;
  #at = 0;
  #callback: ((error?: Error | null) => void) | undefined;
  /** The reader wants no more for now. */
  #full = false;
  /** Inside #feed (a reader could call back into _read from a 'data' handler). */
  #feeding = false;

  constructor(private readonly makeError: (message: string) => Error) {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 16 });
  }

  async #load(): Promise<Decoder> {
    if (this.#decoder) return this.#decoder;
    const { Decompress } = await import('fzstd');
    this.#decoder = new Decompress((data) => {
      if (data.length === 0) return;
      if (!this.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength))) this.#full = true;
    });
    return this.#decoder;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#load().then(
      () => {
        this.#chunk = chunk;
        this.#at = 0;
        this.#callback = callback;
        this.#feed();
      },
      (error: Error) => callback(error),
    );
  }

  /** Feeds the current chunk block by block until it is used up or the reader is full. */
  #feed(): void {
    const chunk = this.#chunk;
    if (!chunk || this.destroyed || this.#feeding) return;
    this.#feeding = true;
    try {
      while (this.#at < chunk.length && !this.#full) {
        const start = this.#at;
        const end = this.#framer.advance(chunk, start);
        this.#at = end;
        this.#decoder!.push(chunk.subarray(start, end));
      }
    } catch (error) {
      this.#finish(this.#error(error));
      return;
    } finally {
      this.#feeding = false;
    }
    if (this.#at >= chunk.length) this.#finish();
  }

  #finish(error?: Error): void {
    const callback = this.#callback;
    this.#chunk = undefined;
    this.#callback = undefined;
    callback?.(error ?? null);
  }

  override _read(): void {
    if (!this.#full) return;
    this.#full = false;
    this.#feed();
  }

  override _final(callback: (error?: Error | null) => void): void {
    try {
      if (!this.#decoder) throw new ZstdFormatError('no input');
      if (!this.#framer.atBoundary) throw new ZstdFormatError('unexpected end of input (truncated frame)');
      this.#decoder.push(new Uint8Array(0), true);
      this.push(null);
      callback();
    } catch (error) {
      callback(this.#error(error));
    }
  }

  #error(error: unknown): Error {
    return this.makeError((error as Error).message);
  }
}
