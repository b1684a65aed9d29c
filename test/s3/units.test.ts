// Pure parts of the S3 backend: part sizes, the part writer against a recording client, the conditional-write probe.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { ErrorCode, IngotError } from '../../src/errors.js';
import { acquireS3Lock, probeConditionalWrites, type LockIo } from '../../src/store/s3-lock.js';
import { createS3Upload, MAX_PARTS, MIN_PART_SIZE, partSizeFor, type S3UploadTarget } from '../../src/store/s3-upload.js';

const MiB = 1 << 20;
const TiB = 1024 * 1024 * MiB;

test('part sizes: at least 8 MiB, and 10,000 parts always reach 5 TiB', () => {
  assert.equal(partSizeFor(1, 0), MIN_PART_SIZE);
  assert.equal(partSizeFor(1, 1024 * MiB), MIN_PART_SIZE);
  const hinted = partSizeFor(1, 5 * TiB);
  assert.ok(hinted * MAX_PARTS >= 5 * TiB && hinted % MiB === 0 && hinted <= 5 * 1024 * MiB);
  assert.equal(partSizeFor(7777, 200 * 1024 * MiB), partSizeFor(1, 200 * 1024 * MiB), 'fixed with a hint');
  // Without a hint: doubling every 1,000 parts.
  let total = 0;
  for (let n = 1; n <= MAX_PARTS; n++) total += partSizeFor(n);
  assert.ok(total >= 5 * TiB, `${total / TiB} TiB`);
  assert.equal(partSizeFor(1000), MIN_PART_SIZE);
  assert.equal(partSizeFor(1001), 2 * MIN_PART_SIZE);
});

/**
 * A client that answers each UploadPart after a few milliseconds and only then reads its body, as
 * an HTTP request still sending would: a part buffer reused too early shows up as wrong bytes.
 */
function recordingTarget(fail?: number) {
  const parts = new Map<number, Buffer>();
  const backings = new Set<ArrayBufferLike>();
  const command = (name: string) =>
    class {
      readonly name = name;
      constructor(readonly input: Record<string, unknown>) {}
    };
  const sdk = {
    CreateMultipartUploadCommand: command('create'),
    UploadPartCommand: command('part'),
    CompleteMultipartUploadCommand: command('complete'),
    AbortMultipartUploadCommand: command('abort'),
    PutObjectCommand: command('put'),
  };
  const client = {
    send: async (c: { name: string; input: Record<string, unknown> }) => {
      if (c.name === 'create') return { UploadId: 'u1' };
      if (c.name !== 'part') return {};
      const n = c.input.PartNumber as number;
      const body = c.input.Body as Buffer;
      backings.add(body.buffer);
      await new Promise((r) => setTimeout(r, 3));
      if (n === fail) throw new Error(`part ${n} refused`);
      parts.set(n, Buffer.from(body));
      return { ETag: `"${n}"` };
    },
  };
  const target = { sdk, client, bucket: 'b', key: 'k', maxInFlight: 2, wrap: (e: unknown) => e as Error } as unknown as S3UploadTarget;
  const assembled = () => Buffer.concat([...parts.keys()].sort((a, b) => a - b).map((n) => parts.get(n)!));
  return { target, parts, backings, assembled };
}

/** `bytes` in 1 MiB chunks. */
const chunked = (bytes: Buffer) => Readable.from(Array.from({ length: Math.ceil(bytes.length / MiB) }, (_, i) => bytes.subarray(i * MiB, (i + 1) * MiB)));

test('the part writer sends every byte once, in numbered parts, reusing the buffers of stored parts', async () => {
  const bytes = randomBytes(10 * MIN_PART_SIZE + 12345);
  const { target, parts, backings, assembled } = recordingTarget();
  const upload = createS3Upload(target);
  await pipeline(chunked(bytes), upload.writable);
  await upload.commit();
  assert.equal(parts.size, 11);
  assert.ok(assembled().equals(bytes), 'the parts put together are the bytes written');
  // At most maxInFlight parts are out at once, plus the one being filled.
  assert.ok(backings.size <= target.maxInFlight + 1, `${backings.size} buffers for 11 parts`);
});

test('a part that fails fails the upload; no part after it is sent', async () => {
  const { target, parts } = recordingTarget(3);
  const upload = createS3Upload(target);
  await assert.rejects(
    (async () => {
      await pipeline(chunked(randomBytes(10 * MIN_PART_SIZE)), upload.writable);
      await upload.commit();
    })(),
    /part 3 refused/,
  );
  assert.ok(!parts.has(3) && parts.size <= 4, `stored: ${[...parts.keys()].join(', ')}`);
});

/** An in-memory LockIo; `honour` = whether If-None-Match is respected. */
function memoryIo(honour: boolean): LockIo & { objects: Map<string, string> } {
  const objects = new Map<string, string>();
  return {
    objects,
    putIfAbsent: async (key, body) => {
      if (honour && objects.has(key)) return false;
      objects.set(key, body);
      return true;
    },
    getText: async (key) => objects.get(key),
    remove: async (key) => void objects.delete(key),
    replace: async (key, body) => void objects.set(key, body),
  };
}

test('a store that ignores If-None-Match is detected and named, with the --no-lock hint', async () => {
  const io = memoryIo(false);
  await assert.rejects(probeConditionalWrites(io, 'pre/', 's3://b/pre/'), (e: unknown) => {
    assert.ok(e instanceof IngotError);
    assert.equal(e.code, ErrorCode.storeLockUnsupported);
    assert.match(e.message, /ignores conditional writes.*s3:\/\/b\/pre\//);
    assert.match(e.hint ?? '', /--no-lock/);
    return true;
  });
  assert.equal(io.objects.size, 0, 'the probe object is removed');
  await probeConditionalWrites(memoryIo(true), 'pre/', 's3://b/pre/');
});

test('a lock write whose answer was lost (retried into 412) is recognised as ours', async () => {
  const io = memoryIo(true);
  let first = true;
  const lossy: LockIo = {
    ...io,
    putIfAbsent: async (key, body) => {
      const ok = await io.putIfAbsent(key, body);
      if (first && ok) {
        first = false;
        return io.putIfAbsent(key, body); // the SDK's retry of a write that did land
      }
      return ok;
    },
  };
  const lock = await acquireS3Lock(lossy, '', 's3://b/', { owner: 'me', timeoutMs: 0, ttlMs: 60_000, breakExpired: false });
  assert.equal(io.objects.size, 1);
  await lock.release();
  assert.equal(io.objects.size, 0);
});

test('a held lock is refreshed before it expires, and only while it is ours', async () => {
  const io = memoryIo(true);
  const lock = await acquireS3Lock(io, '', 's3://b/', { owner: 'long-run', timeoutMs: 0, ttlMs: 3000, breakExpired: false });
  const first = JSON.parse(io.objects.get('.ingot-lock')!) as { expiresAt: string; token: string };
  await new Promise((r) => setTimeout(r, 2300));
  const later = JSON.parse(io.objects.get('.ingot-lock')!) as { expiresAt: string; token: string };
  assert.equal(later.token, first.token);
  assert.ok(Date.parse(later.expiresAt) > Date.parse(first.expiresAt), 'expiry moved forward');
  // Someone broke it and took over: our heartbeat must not overwrite theirs.
  io.objects.set('.ingot-lock', JSON.stringify({ owner: 'other', token: 'theirs', expiresAt: new Date(Date.now() + 60_000).toISOString() }));
  await new Promise((r) => setTimeout(r, 1200));
  assert.match(io.objects.get('.ingot-lock')!, /"theirs"/);
  await lock.release();
  assert.match(io.objects.get('.ingot-lock')!, /"theirs"/, 'release leaves a lock that is not ours');
});
