import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { IngotError } from '../../src/errors.js';
import { CapStream, decompressor, formatBytes, parseSize, type Compression } from '../../src/transform/decompress.js';
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

  it('parses and formats sizes', () => {
    assert.equal(parseSize('64GiB'), 64 * 2 ** 30);
    assert.equal(parseSize('1.5 MiB'), 1.5 * 2 ** 20);
    assert.equal(parseSize('500MB'), 500e6);
    assert.equal(parseSize(1024), 1024);
    assert.equal(parseSize('lots'), undefined);
    assert.equal(parseSize('0'), undefined);
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(12), '12 B');
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
    a.done();
    b.done();
    progress.clear();
  });
});
