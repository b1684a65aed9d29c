import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { IngotError } from '../../src/errors.js';
import { CapStream, decompressor, formatBytes, parseSize, type Compression } from '../../src/transform/decompress.js';
import { ZstdFramer } from '../../src/transform/zstd-js.js';
import { ttyProgress } from '../../src/cli/progress-render.js';
import { compress, diskImage, sha256 } from '../helpers/fixtures.js';
import { needTool } from '../helpers/tools.js';

const raw = diskImage(1536 * 1024, 5);

async function run(format: Compression, preference: 'native' | 'builtin', input: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk, _e, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  await pipeline(Readable.from([input.subarray(0, 1000), input.subarray(1000)]), decompressor(format, preference).create(), sink);
  return Buffer.concat(chunks);
}

describe('decompressors', () => {
  for (const format of ['xz', 'zstd', 'gzip'] as const) {
    for (const preference of ['native', 'builtin'] as const) {
      it(`${format} (${preference}) decompresses what the real tool compressed`, async (t) => {
        if (!needTool(t, format === 'gzip' ? 'gzip' : format, format === 'xz' ? 'xz-utils' : format)) return;
        const out = await run(format, preference, compress(raw, format));
        assert.equal(sha256(out), sha256(raw));
      });
      it(`${format} (${preference}) never passes corrupt input off as the original`, async (t) => {
        if (!needTool(t, format === 'gzip' ? 'gzip' : format, format === 'xz' ? 'xz-utils' : format)) return;
        const bad = compress(raw, format);
        bad.fill(0x55, 40, 4000);
        // Most decoders reject; a decoder that cannot tell (fzstd skips the frame
        // checksum) yields other bytes, which the pipeline's digest check refuses.
        const outcome = await run(format, preference, bad).then(
          (out) => (sha256(out) === sha256(raw) ? 'same bytes' : 'other bytes'),
          (error: Error) => {
            assert.ok(error instanceof IngotError || /incorrect|invalid|corrupt|check|data|header/i.test(error.message), error.message);
            return 'rejected';
          },
        );
        assert.notEqual(outcome, 'same bytes');
        if (preference === 'native' || format !== 'zstd') assert.equal(outcome, 'rejected');
      });
    }
  }

  it('CapStream stops a decompression bomb', async () => {
    const bomb = compress(Buffer.alloc(8 * 1024 * 1024), 'gzip');
    assert.ok(bomb.length < 64 * 1024);
    await assert.rejects(
      pipeline(Readable.from([bomb]), decompressor('gzip').create(), new CapStream(1024 * 1024, 'bomb'), new Writable({ write: (_c, _e, cb) => cb() })),
      (error: IngotError) => error.code === 'INGOT_DECOMPRESS_LIMIT' && /exceeds the limit of 1.0 MiB: bomb/.test(error.message),
    );
  });

  it('a body declared gzip that is not gzip fails with INGOT_DECOMPRESS_FAILED, not INGOT_INTERNAL', async () => {
    for (const preference of ['native', 'builtin'] as const) {
      await assert.rejects(run('gzip', preference, Buffer.from('<html>this is an error page, not gzip</html>')), (error: IngotError) => {
        assert.ok(error instanceof IngotError, String(error));
        assert.equal(error.code, 'INGOT_DECOMPRESS_FAILED');
        assert.match(error.message, /gzip decompression failed: incorrect header check/);
        return true;
      });
    }
  });

  it('builtin zstd never hands out more than about a block per input slice (output waits for the reader)', async (t) => {
    if (!needTool(t, 'zstd')) return;
    // 256 MiB of zeros in ~8 KiB: RLE and repeat blocks, 128 KiB of output each.
    const bomb = compress(Buffer.alloc(256 * 1024 * 1024), 'zstd');
    assert.ok(bomb.length < 64 * 1024, `${bomb.length} bytes`);
    const stream = decompressor('zstd', 'builtin').create();
    let read = 0;
    stream.on('data', (chunk: Buffer) => {
      read += chunk.length;
      if (read >= 4 * 1024 * 1024) stream.pause();
    });
    stream.write(bomb);
    // Give the decoder every chance to run ahead of the paused reader.
    await new Promise((r) => setTimeout(r, 300));
    const buffered = stream.readableLength;
    assert.ok(buffered <= 2 * 1024 * 1024, `${buffered} bytes decoded ahead of a paused reader (the old decoder: all 256 MiB)`);
    stream.destroy();
  });

  it('builtin zstd through a slow reader yields exactly the original bytes (pause and resume at block borders)', async (t) => {
    if (!needTool(t, 'zstd')) return;
    const original = Buffer.concat([diskImage(6 * 1024 * 1024, 9), Buffer.alloc(3 * 1024 * 1024)]);
    const packed = compress(original, 'zstd');
    const chunks: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 1,
      write(chunk, _e, cb) {
        chunks.push(chunk);
        setImmediate(cb);
      },
    });
    const pieces = Array.from({ length: Math.ceil(packed.length / 70_001) }, (_, i) => packed.subarray(i * 70_001, (i + 1) * 70_001));
    await pipeline(Readable.from(pieces), decompressor('zstd', 'builtin').create(), slow);
    assert.equal(sha256(Buffer.concat(chunks)), sha256(original));
  });

  it('the zstd framer refuses what libzstd refuses: huge windows, oversized blocks, reserved types', () => {
    const frame = (descriptor: number, window: number, blockHeader: number) => {
      const b = Buffer.alloc(4 + 2 + 3);
      b.writeUInt32LE(0xfd2fb528, 0);
      b[4] = descriptor;
      b[5] = window;
      b.writeUIntLE(blockHeader, 6, 3);
      return b;
    };
    const walk = (bytes: Buffer) => {
      const framer = new ZstdFramer();
      for (let at = 0; at < bytes.length; ) at = framer.advance(bytes, at);
    };
    assert.throws(() => walk(frame(0, 21 << 3, 0)), /needs a 2147483648-byte window, over the limit of 134217728/);
    assert.doesNotThrow(() => walk(frame(0, 17 << 3, (1 << 3) | (1 << 1) | 1)), 'a 128 MiB window is fine');
    // An RLE block claiming 2 MiB - 1 of output in a frame whose blocks are at most 128 KiB.
    assert.throws(() => walk(frame(0, 10 << 3, (((2 << 20) - 1) << 3) | (1 << 1) | 1)), /block of 2097151 bytes exceeds the frame's block limit of 131072/);
    assert.throws(() => walk(frame(0, 10 << 3, (3 << 1) | 1)), /reserved block type/);
    assert.throws(() => walk(Buffer.from('PK\x03\x04 not zstd')), /not zstd data/);
    // Split anywhere, a frame is walked the same: block ends are found across chunk borders.
    // A raw block "hello" (not last), then an RLE block of one byte (last).
    const last = Buffer.alloc(4);
    last.writeUIntLE((1 << 3) | (1 << 1) | 1, 0, 3);
    last[3] = 0x21;
    const real = Buffer.concat([frame(0, 10 << 3, 5 << 3), Buffer.from('hello'), last]);
    const ends: number[] = [];
    const framer = new ZstdFramer();
    let offset = 0;
    for (const piece of [real.subarray(0, 3), real.subarray(3, 7), real.subarray(7)]) {
      for (let at = 0; at < piece.length; ) {
        const end = framer.advance(piece, at);
        if (end < piece.length || framer.atBoundary) ends.push(offset + end);
        at = end;
      }
      offset += piece.length;
    }
    assert.deepEqual(ends, [9 + 5, real.length], 'each block ends where it should, across chunk borders');
    assert.ok(framer.atBoundary);
  });

  it('parses and formats sizes', () => {
    assert.equal(parseSize('64GiB'), 64 * 2 ** 30);
    assert.equal(parseSize('1.5 MiB'), 1.5 * 2 ** 20);
    assert.equal(parseSize('500MB'), 500e6);
    assert.equal(parseSize(1024), 1024);
    assert.equal(parseSize('lots'), undefined);
    assert.equal(parseSize('0'), undefined);
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(12), '12 B');
    // Rates are fractional: never print the raw float (issue 17: "1.0124967059182512 B/s").
    assert.equal(formatBytes(1.0124967059182512), '1 B');
    assert.equal(formatBytes(1023.7), '1.0 KiB');
    assert.equal(formatBytes(1024 * 1023.96), '1.0 MiB');
    assert.equal(formatBytes(Number.NaN), '?');
  });
});

describe('terminal progress', () => {
  it('draws one live line per transfer with %, rate and ETA', async () => {
    let written = '';
    const stream = { columns: 120, write: (s: string) => ((written += s), true) } as unknown as NodeJS.WriteStream;
    const progress = ttyProgress(stream);
    const a = progress.start('talos', 1000);
    const b = progress.start('debian', undefined);
    a.advance(250);
    b.advance(10);
    await new Promise((r) => setTimeout(r, 150));
    assert.match(written, /talos\s+25% 250 B\/1000 B .*\/s ETA/);
    assert.match(written, /debian 10 B /);
    assert.doesNotMatch(written, /\d\.\d{3,}/, 'no raw floats in the line');
    a.done();
    b.done();
    progress.clear();
  });
});
