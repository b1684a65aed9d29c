// The helper thread for hashing: digests equal the in-thread ones, buffers are not reused while the thread
// reads them, failures reach the caller, and an idle thread never keeps the process alive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatDigest } from '../../src/digest/digest.js';
import { run } from '../../src/exec/run.js';
import { type HelperThread, hashThread, hashThreadReady, sharedBuffer, stopHashThread, ThreadHash } from '../../src/digest/hash-thread.js';
import { FILE_CHUNK, readFileChunks } from '../../src/digest/hashing.js';
import { generateSecretKey } from '../../src/trust/keys.js';
import { signFile, verifyFile } from '../../src/trust/signature.js';

const hex = (algorithm: string, data: Uint8Array) => createHash(algorithm).update(data).digest('hex');

async function tmp(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ingot-hash-thread-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

async function runningThread() {
  assert.equal(await hashThreadReady(), true, 'the helper thread starts');
  const thread = hashThread();
  assert.ok(thread);
  return thread;
}

test('helper thread: two jobs interleaved over shared chunks give the digests of their own bytes; a bad algorithm fails only its job', async () => {
  const thread = await runningThread();
  const a = randomBytes(3 * 65536 + 17);
  const b = randomBytes(100_003);
  const shared = sharedBuffer(a.length + b.length);
  shared.set(a, 0);
  shared.set(b, a.length);
  const sha = thread.job('sha256');
  const blake = thread.job('blake2b512');
  // Four rounds: sha takes the next 64 KiB of a, blake takes all of b again.
  for (let at = 0; at < a.length; at += 65536) {
    await Promise.all([sha.update(shared.subarray(at, Math.min(at + 65536, a.length))), blake.update(shared.subarray(a.length, a.length + b.length))]);
  }
  assert.equal(await sha.digest(), hex('sha256', a));
  assert.equal(await blake.digest(), hex('blake2b512', Buffer.concat([b, b, b, b])));

  const bad = thread.job('no-such-hash');
  await assert.rejects(bad.update(shared.subarray(0, 10)), /hashing thread: .*(digest|unsupported|Invalid)/i);
  assert.throws(() => thread.job('sha256').update(Buffer.alloc(4)), /SharedArrayBuffer/);
  // The thread survives a failed job.
  const again = thread.job('sha256');
  await again.update(shared.subarray(0, 5));
  assert.equal(await again.digest(), hex('sha256', a.subarray(0, 5)));
});

test('readFileChunks: a chunk handed on is not overwritten until its promise settles, and a failed hand-off fails the read', async (t) => {
  const dir = await tmp(t);
  const file = path.join(dir, 'data');
  const data = randomBytes(5 * FILE_CHUNK + 12345);
  await fs.writeFile(file, data);
  const seen: Buffer[] = [];
  let offset = 0;
  const size = await readFileChunks(file, (chunk) => {
    assert.ok(chunk.buffer instanceof SharedArrayBuffer, 'pooled chunks are shared memory');
    const at = offset;
    offset += chunk.length;
    // Check the bytes only later, after the reader went on: they must still be this chunk's.
    return new Promise<void>((resolve) =>
      setTimeout(() => {
        assert.ok(chunk.equals(data.subarray(at, at + chunk.length)), `chunk at ${at} intact while handed on`);
        seen.push(Buffer.from(chunk));
        resolve();
      }, 15),
    );
  });
  assert.equal(size, data.length);
  assert.ok(Buffer.concat(seen).equals(data));

  let calls = 0;
  await assert.rejects(
    readFileChunks(file, () => (++calls === 2 ? Promise.reject(new Error('thread gone')) : undefined)),
    /thread gone/,
  );
  // The next read (which may take the pool's buffers) still sees only its own bytes.
  const sha = createHash('sha256');
  await readFileChunks(file, (c) => sha.update(c));
  assert.equal(sha.digest('hex'), hex('sha256', data));
});

test('verifyFile with sha256 in the helper thread: same result as in one thread; a changed byte or digest is still caught', async (t) => {
  const dir = await tmp(t);
  const file = path.join(dir, 'artifact');
  const data = randomBytes(3 * FILE_CHUNK + 999);
  await fs.writeFile(file, data);
  const key = generateSecretKey();
  const signature = await signFile(file, key, { trustedComment: 'file:artifact' });
  const expected = formatDigest('sha256', hex('sha256', data));

  await runningThread();
  const threaded = await verifyFile(file, signature, key.publicKey, expected);
  assert.equal(threaded.sha256, expected);
  assert.equal(threaded.size, data.length);
  process.env.INGOT_HASH_THREAD = '0';
  try {
    assert.deepEqual(await verifyFile(file, signature, key.publicKey, expected), threaded);
  } finally {
    delete process.env.INGOT_HASH_THREAD;
  }

  await assert.rejects(verifyFile(file, signature, key.publicKey, formatDigest('sha256', '0'.repeat(64))), { code: 'INGOT_DIGEST_MISMATCH' });
  data[2 * FILE_CHUNK + 5]! ^= 1;
  await fs.writeFile(file, data);
  await assert.rejects(verifyFile(file, signature, key.publicKey), { code: 'INGOT_SIGNATURE_INVALID' });
});

test('an idle helper thread does not keep the process alive; a stopped thread is started again', async () => {
  const script = [
    "import { hashThreadReady, hashThread } from './src/digest/hash-thread.ts';",
    "import { sharedBuffer } from './src/digest/hash-thread.ts';",
    'if (!(await hashThreadReady())) process.exit(3);',
    "const job = hashThread().job('sha256');",
    'await job.update(sharedBuffer(8));',
    'console.log(await job.digest());',
  ].join('\n');
  const result = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: path.resolve('.'),
    timeoutMs: 20_000,
    reject: false,
  });
  assert.equal(result.timedOut, false, 'the process ends by itself after its last digest');
  assert.equal(result.exitCode, 0, result.stderr);
  assert.equal(result.stdout.trim(), hex('sha256', Buffer.alloc(8)));

  await runningThread();
  await stopHashThread();
  assert.equal(hashThread(), undefined, 'the first call after a stop only starts a new thread');
  await runningThread();
});

test('a job whose update failed never gives a digest, even when the thread answers the rest', async () => {
  // A thread that fails the first update and answers everything else, as the real one does once it has
  // forgotten the failed job: the digest it would give covers only the later bytes.
  const sent: Record<string, unknown>[] = [];
  const thread = {
    send(message: Record<string, unknown>) {
      sent.push(message);
      if (sent.length === 1) return Promise.reject(new Error('hashing thread: out of memory'));
      return Promise.resolve(message.final ? 'ab'.repeat(32) : undefined);
    },
  } as unknown as HelperThread;
  const job = new ThreadHash(thread, 1, 'sha256');
  const chunk = sharedBuffer(8);
  await assert.rejects(job.update(chunk), /out of memory/);
  await assert.rejects(job.update(chunk), /out of memory/, 'later updates fail at once');
  await assert.rejects(job.digest(), /out of memory/);
  assert.equal(sent.filter((m) => m.buffer).length, 1, 'nothing more is sent for a failed job');
});
