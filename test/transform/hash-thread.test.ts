// The helper thread for verifying files: it reads a file and hashes it while the caller gets every chunk in
// order; a buffer the caller holds is never read into; failures reach the caller and leave the thread usable;
// an idle thread never keeps the process alive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatDigest } from '../../src/digest/digest.js';
import { run } from '../../src/exec/run.js';
import { type HelperThread, hashThread, hashThreadReady, stopHashThread } from '../../src/digest/hash-thread.js';
import { FILE_CHUNK } from '../../src/digest/hashing.js';
import { generateSecretKey } from '../../src/trust/keys.js';
import { signBytes, signFile, verifyFile } from '../../src/trust/signature.js';

const hex = (algorithm: string, data: Uint8Array) => createHash(algorithm).update(data).digest('hex');

async function tmp(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ingot-hash-thread-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

async function runningThread(): Promise<HelperThread> {
  assert.equal(await hashThreadReady(), true, 'the helper thread starts');
  const thread = hashThread();
  assert.ok(thread);
  return thread;
}

/** Reads `file` in the thread; `onChunk` sees each chunk with its offset. */
async function threadRead(thread: HelperThread, file: string, algorithm: string, onChunk: (chunk: Uint8Array, at: number) => void) {
  const handle = await fs.open(file, 'r');
  try {
    let at = 0;
    return await thread.readFile(handle.fd, algorithm, (chunk) => {
      onChunk(chunk, at);
      at += chunk.length;
    });
  } finally {
    await handle.close();
  }
}

test('helper thread: the caller gets every chunk in order while the thread hashes the same bytes, for any size; reads queue', async (t) => {
  const thread = await runningThread();
  const dir = await tmp(t);
  for (const size of [0, 1, FILE_CHUNK, FILE_CHUNK + 1, 9 * FILE_CHUNK + 4321]) {
    const data = randomBytes(size);
    const file = path.join(dir, `data-${size}`);
    await fs.writeFile(file, data);
    const caller = createHash('blake2b512');
    const read = await threadRead(thread, file, 'sha256', (chunk, at) => {
      assert.ok(chunk.length > 0 && chunk.length <= FILE_CHUNK);
      assert.ok(Buffer.from(chunk).equals(data.subarray(at, at + chunk.length)), `chunk at ${at} of ${size}`);
      caller.update(chunk);
    });
    assert.deepEqual(read, { hex: hex('sha256', data), size }, `thread digest of ${size} bytes`);
    assert.equal(caller.digest('hex'), hex('blake2b512', data), `caller digest of ${size} bytes`);
  }

  // Two reads at once: the second waits for the first in the thread, and each gets its own bytes.
  const a = randomBytes(5 * FILE_CHUNK + 1);
  const b = randomBytes(3 * FILE_CHUNK + 7);
  await fs.writeFile(path.join(dir, 'a'), a);
  await fs.writeFile(path.join(dir, 'b'), b);
  const seen = { a: [] as Buffer[], b: [] as Buffer[] };
  const [ra, rb] = await Promise.all([
    threadRead(thread, path.join(dir, 'a'), 'sha512', (c) => seen.a.push(Buffer.from(c))),
    threadRead(thread, path.join(dir, 'b'), 'sha256', (c) => seen.b.push(Buffer.from(c))),
  ]);
  assert.equal(ra.hex, hex('sha512', a));
  assert.equal(rb.hex, hex('sha256', b));
  assert.ok(Buffer.concat(seen.a).equals(a) && Buffer.concat(seen.b).equals(b));
});

test('helper thread: a chunk the caller still holds is not read into, however slow the caller', async (t) => {
  const thread = await runningThread();
  const dir = await tmp(t);
  // Three times the ring: a thread that did not wait would wrap around into chunks being read.
  const data = randomBytes(12 * FILE_CHUNK);
  const file = path.join(dir, 'data');
  await fs.writeFile(file, data);
  const read = await threadRead(thread, file, 'sha256', (chunk, at) => {
    const until = performance.now() + 4;
    while (performance.now() < until); // the thread reads ahead meanwhile
    assert.ok(Buffer.from(chunk).equals(data.subarray(at, at + chunk.length)), `chunk at ${at} intact after the wait`);
  });
  assert.equal(read.hex, hex('sha256', data));
});

test('helper thread: an error in the caller stops the read and reaches the caller; a read error keeps its code; the thread goes on', async (t) => {
  const thread = await runningThread();
  const dir = await tmp(t);
  const data = randomBytes(8 * FILE_CHUNK);
  const file = path.join(dir, 'data');
  await fs.writeFile(file, data);
  let calls = 0;
  await assert.rejects(
    threadRead(thread, file, 'sha256', () => {
      if (++calls === 2) throw new Error('caller failed');
    }),
    /caller failed/,
  );
  assert.equal(calls, 2, 'no chunk is handed on after the failure');
  // Failing on the last chunk, after which the thread has already found the end, fails the read too.
  calls = 0;
  await assert.rejects(
    threadRead(thread, file, 'sha256', () => {
      if (++calls === 8) throw new Error('caller failed on the last chunk');
    }),
    /on the last chunk/,
  );

  // A directory cannot be read: the error and its code come back.
  const handle = await fs.open(dir, 'r');
  try {
    await assert.rejects(
      thread.readFile(handle.fd, 'sha256', () => undefined),
      (error: NodeJS.ErrnoException) => error.code === 'EISDIR' && /hashing thread/.test(error.message),
    );
  } finally {
    await handle.close();
  }
  await assert.rejects(
    threadRead(thread, file, 'no-such-hash', () => undefined),
    /hashing thread: .*(digest|unsupported|Invalid)/i,
  );

  // The ring given back after those failures serves the next read with only its own bytes.
  const seen: Buffer[] = [];
  const read = await threadRead(thread, file, 'sha256', (c) => seen.push(Buffer.from(c)));
  assert.equal(read.hex, hex('sha256', data));
  assert.ok(Buffer.concat(seen).equals(data));
});

test('verifyFile with the helper thread: same result as in one thread; a changed byte or digest is still caught', async (t) => {
  const dir = await tmp(t);
  const file = path.join(dir, 'artifact');
  const data = randomBytes(3 * FILE_CHUNK + 999);
  await fs.writeFile(file, data);
  const key = generateSecretKey();
  const signature = await signFile(file, key, { trustedComment: 'file:artifact' });
  const legacy = signBytes(data, key, { trustedComment: 'file:artifact', legacy: true });
  const expected = formatDigest('sha256', hex('sha256', data));

  await runningThread();
  const threaded = await verifyFile(file, signature, key.publicKey, expected);
  assert.equal(threaded.sha256, expected);
  assert.equal(threaded.size, data.length);
  assert.equal((await verifyFile(file, legacy, key.publicKey, expected)).algorithm, 'Ed');
  process.env.INGOT_HASH_THREAD = '0';
  try {
    assert.deepEqual(await verifyFile(file, signature, key.publicKey, expected), threaded);
    assert.equal((await verifyFile(file, legacy, key.publicKey, expected)).sha256, expected);
  } finally {
    delete process.env.INGOT_HASH_THREAD;
  }

  await assert.rejects(verifyFile(file, signature, key.publicKey, formatDigest('sha256', '0'.repeat(64))), { code: 'INGOT_DIGEST_MISMATCH' });
  data[2 * FILE_CHUNK + 5]! ^= 1;
  await fs.writeFile(file, data);
  await assert.rejects(verifyFile(file, signature, key.publicKey), { code: 'INGOT_SIGNATURE_INVALID' });
  await assert.rejects(verifyFile(file, legacy, key.publicKey), { code: 'INGOT_SIGNATURE_INVALID' });
});

test('verifyFile: a legacy (non-prehashed) signature on a file over 64 MiB is refused, with the thread and without', async (t) => {
  const dir = await tmp(t);
  const file = path.join(dir, 'big');
  await fs.writeFile(file, '');
  await fs.truncate(file, (64 << 20) + 1);
  const key = generateSecretKey();
  const legacy = signBytes(Buffer.from('other bytes'), key, { trustedComment: 'file:big', legacy: true });
  await runningThread();
  await assert.rejects(verifyFile(file, legacy, key.publicKey), { code: 'INGOT_SIGNATURE_MALFORMED', message: /over 64 MiB/ });
  process.env.INGOT_HASH_THREAD = '0';
  try {
    await assert.rejects(verifyFile(file, legacy, key.publicKey), { code: 'INGOT_SIGNATURE_MALFORMED', message: /over 64 MiB/ });
  } finally {
    delete process.env.INGOT_HASH_THREAD;
  }
});

test('an idle helper thread does not keep the process alive; a stopped thread is started again', async () => {
  const script = [
    "import { hashThreadReady, hashThread } from './src/digest/hash-thread.ts';",
    "import { openSync, writeFileSync } from 'node:fs';",
    'if (!(await hashThreadReady())) process.exit(3);',
    "const file = `${process.env.TMPDIR ?? '/tmp'}/ingot-hash-thread-${process.pid}`;",
    'writeFileSync(file, Buffer.alloc(8));',
    "console.log((await hashThread().readFile(openSync(file, 'r'), 'sha256', () => undefined)).hex);",
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
