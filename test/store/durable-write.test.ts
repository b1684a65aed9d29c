// durableWriteStream: the bytes land whole and in order, the kernel is asked to write back every
// `writeback` bytes (never two at once), and a failed early write-back fails the stream instead of
// being swallowed (Linux reports it once per open file, so the final fsync might not).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import { durableWriteStream } from '../../src/util/durable-write.js';

const dir = mkdtempSync(join(tmpdir(), 'ingot-durable-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Opens `name` and counts the handle's datasync calls, optionally failing them; tracks how many run at once. */
async function spiedHandle(name: string, fail?: Error) {
  const handle = await fs.open(join(dir, name), 'wx');
  const spy = { calls: 0, running: 0, mostAtOnce: 0 };
  const datasync = handle.datasync.bind(handle);
  handle.datasync = async () => {
    spy.calls++;
    spy.running++;
    spy.mostAtOnce = Math.max(spy.mostAtOnce, spy.running);
    try {
      if (fail) {
        await new Promise((r) => setTimeout(r, 2));
        throw fail;
      }
      return await datasync();
    } finally {
      spy.running--;
    }
  };
  return { handle, spy };
}

/** 64 KiB chunks, some of them written together (writev) while the file is busy; with `pause`, a short wait every 256 KiB (a download). */
function chunks(bytes: Buffer, pause = false): Readable {
  return Readable.from(
    (async function* () {
      for (let i = 0; i < bytes.length; i += 65536) {
        if (pause && i % (256 << 10) === 0) await new Promise((r) => setTimeout(r, 5));
        yield bytes.subarray(i, i + 65536);
      }
    })(),
  );
}

describe('durableWriteStream', () => {
  it('writes every byte in order and asks for write-back every `writeback` bytes, one at a time', async () => {
    const bytes = randomBytes(4 << 20);
    const { handle, spy } = await spiedHandle('a');
    await pipeline(chunks(bytes, true), durableWriteStream(handle, 256 << 10));
    assert.deepEqual(readFileSync(join(dir, 'a')), bytes);
    // 16 periods; the writes that finish while one write-back runs are folded into the next.
    assert.ok(spy.calls >= 4 && spy.calls <= 16, `${spy.calls} write-backs`);
    assert.equal(spy.mostAtOnce, 1);
  });

  it('a file smaller than one period is only flushed at the end', async () => {
    const bytes = randomBytes(100_000);
    const { handle, spy } = await spiedHandle('b');
    await pipeline(chunks(bytes), durableWriteStream(handle, 256 << 10));
    assert.deepEqual(readFileSync(join(dir, 'b')), bytes);
    assert.equal(spy.calls, 0);
  });

  it('a failed write-back fails the stream with its error and closes the file, even when the last bytes are already written', async () => {
    const eio = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    const { handle, spy } = await spiedHandle('c', eio);
    const out = durableWriteStream(handle, 128 << 10);
    await assert.rejects(pipeline(chunks(randomBytes(2 << 20)), out), (e: NodeJS.ErrnoException) => e.code === 'EIO');
    assert.ok(spy.calls >= 1);
    await new Promise<void>((resolve) => (out.closed ? resolve() : out.once('close', () => resolve())));
    assert.equal(handle.fd, -1, 'the handle is closed');
  });
});
