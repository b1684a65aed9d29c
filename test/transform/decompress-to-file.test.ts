// Decompression straight into a file (src/transform/decompress-to-file.ts), with the real xz and zstd: every
// byte the tool writes is read back and handed on in order; the file is written back early; the first failure
// (the cap, the tool's own error, the input's, an abort) is the one reported, and the tool is gone by then.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { compress, diskImage, sha256, tempDir } from '../helpers/fixtures.js';
import { needTool } from '../helpers/tools.js';
import { decompressIntoFile, type DirectFile } from '../../src/transform/decompress-to-file.js';
import { capError, decompressor } from '../../src/transform/decompress.js';

/** The native tool for a format, as sync picks it. */
function native(format: 'xz' | 'zstd') {
  const tool = decompressor(format, 'native').native;
  assert.ok(tool, `${format} is run as a native tool`);
  return tool;
}

async function target(t: TestContext): Promise<DirectFile> {
  const path = join(tempDir('ingot-direct-'), 'out.raw');
  const handle = await fs.open(path, 'wx');
  t.after(() => handle.close().catch(() => undefined));
  return { handle, path };
}

/** A readable that gives `data` in slices, waiting `delayMs` between them, then (optionally) fails. */
function slowly(data: Buffer, slice: number, delayMs: number, failWith?: Error): Readable {
  let at = 0;
  return new Readable({
    read() {
      if (at >= data.length) {
        if (failWith) this.destroy(failWith);
        else this.push(null);
        return;
      }
      const part = data.subarray(at, at + slice);
      at += slice;
      setTimeout(() => this.push(part), delayMs);
    },
  });
}

for (const format of ['zstd', 'xz'] as const) {
  test(`${format}: the tool writes the file, every byte is read back in order, and the file is written back early`, async (t) => {
    if (!needTool(t, format, format === 'xz' ? 'xz-utils' : 'zstd')) return;
    const raw = Buffer.concat([diskImage(20 << 20, 7), randomBytes(3 << 20), Buffer.alloc(1 << 20)]);
    const file = await target(t);
    let datasyncs = 0;
    const datasync = file.handle.datasync.bind(file.handle);
    file.handle.datasync = () => {
      datasyncs++;
      return datasync();
    };
    const seen: Buffer[] = [];
    // Given slowly, so the reader catches up with the tool and waits for it again and again.
    const size = await decompressIntoFile({
      input: [slowly(compress(raw, format), 256 << 10, 2)],
      tool: native(format),
      file,
      onChunk: (chunk) => seen.push(Buffer.from(chunk)),
      writeback: 4 << 20,
    });
    assert.equal(size, raw.length);
    assert.equal(sha256(Buffer.concat(seen)), sha256(raw), 'the bytes handed on');
    assert.equal(sha256(await fs.readFile(file.path)), sha256(raw), 'the bytes in the file');
    assert.ok(datasyncs >= 2, `early write-backs: ${datasyncs}`);
  });
}

test('the cap stops a decompression bomb: the tool is killed long before it has written everything', async (t) => {
  if (!needTool(t, 'zstd')) return;
  // 1 GiB of zeros is a few KiB of zstd.
  const bomb = execFileSync('bash', ['-c', 'head -c 1073741824 /dev/zero | zstd -q -1 -c'], { maxBuffer: 1 << 20 });
  const file = await target(t);
  let bytes = 0;
  await assert.rejects(
    decompressIntoFile({
      input: [Readable.from([bomb])],
      tool: native('zstd'),
      file,
      onChunk: (chunk) => {
        if ((bytes += chunk.length) > 8 << 20) throw capError(8 << 20, 'bomb');
      },
    }),
    { code: 'INGOT_DECOMPRESS_LIMIT' },
  );
  const { size } = await fs.stat(file.path);
  assert.ok(size < 1 << 30, `the file stopped at ${size} bytes`);
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal((await fs.stat(file.path)).size, size, 'nothing writes the file any more');
});

test("a corrupt stream fails with the tool's own message; an input that fails mid-way fails with its error", async (t) => {
  if (!needTool(t, 'zstd')) return;
  const raw = diskImage(4 << 20, 3);
  const zst = compress(raw, 'zstd');
  const corrupt = Buffer.from(zst);
  corrupt.fill(0x55, 100, 4000);
  await assert.rejects(
    decompressIntoFile({ input: [Readable.from([corrupt])], tool: native('zstd'), file: await target(t), onChunk: () => undefined }),
    (error: Error & { code?: string }) => error.code === 'INGOT_DECOMPRESS_FAILED' && /zstd decompression failed: .+/.test(error.message),
  );
  // Another format altogether: the tool stops at once (Node then closes its stdin), its message still wins.
  if (needTool(t, 'xz', 'xz-utils')) {
    await assert.rejects(
      decompressIntoFile({ input: [slowly(zst, 64 << 10, 1)], tool: native('xz'), file: await target(t), onChunk: () => undefined }),
      (error: Error & { code?: string }) => error.code === 'INGOT_DECOMPRESS_FAILED' && /xz decompression failed: .+/.test(error.message),
    );
  }
  // The network goes away after half the stream: the tool would report a truncated frame, the cause is the input.
  await assert.rejects(
    decompressIntoFile({
      input: [slowly(zst.subarray(0, zst.length >> 1), 64 << 10, 1, new Error('connection reset by the test'))],
      tool: native('zstd'),
      file: await target(t),
      onChunk: () => undefined,
    }),
    /connection reset by the test/,
  );
});

test("a tool that cannot write the file fails as the file's failure, not as bad data", async (t) => {
  if (!needTool(t, 'zstd')) return;
  const zst = compress(diskImage(4 << 20, 9), 'zstd');
  // A file size limit of 256 KiB (SIGXFSZ ignored): zstd's writes fail with EFBIG, as they would with ENOSPC.
  const limited = { ...native('zstd'), command: 'bash', args: ['-c', `trap '' XFSZ; ulimit -f 256; exec ${native('zstd').command} -dcq`] };
  await assert.rejects(
    decompressIntoFile({
      input: [Readable.from([zst])],
      tool: limited,
      file: await target(t),
      onChunk: () => undefined,
      writeError: (message) => Object.assign(new Error(`store write failed: ${message}`), { code: 'TEST_WRITE' }),
    }),
    (error: Error & { code?: string }) => error.code === 'TEST_WRITE' && /File too large/i.test(error.message),
  );
  // Without a writeError the tool's own error is used, as before.
  await assert.rejects(decompressIntoFile({ input: [Readable.from([zst])], tool: limited, file: await target(t), onChunk: () => undefined }), {
    code: 'INGOT_DECOMPRESS_FAILED',
  });
});

test('an abort stops the input and the tool; a tool that cannot run says so', async (t) => {
  if (!needTool(t, 'zstd')) return;
  const zst = compress(diskImage(8 << 20, 5), 'zstd');
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error('stopped by the test')), 50);
  const started = Date.now();
  await assert.rejects(
    decompressIntoFile({
      input: [slowly(zst, 16 << 10, 20)],
      tool: native('zstd'),
      file: await target(t),
      onChunk: () => undefined,
      signal: controller.signal,
    }),
    (error: Error) => error.name === 'AbortError' || /stopped by the test/.test(error.message),
  );
  assert.ok(Date.now() - started < 5000, 'the abort did not wait for the input to end');

  await assert.rejects(
    decompressIntoFile({
      input: [Readable.from([zst])],
      tool: { command: join(tempDir('ingot-direct-'), 'no-such-tool'), args: [], makeError: (m) => new Error(`tool failed: ${m}`) },
      file: await target(t),
      onChunk: () => undefined,
    }),
    /tool failed: cannot run .*no-such-tool/,
  );
});
