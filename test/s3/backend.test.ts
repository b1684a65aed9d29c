// The S3 backend against a real Ceph RGW: pagination, batch deletes, multipart
// commit/abort, a SIGKILLed upload, locks, credentials and error messages.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { ErrorCode, IngotError } from '../../src/errors.js';
import type { StoreBackend } from '../../src/store/backend.js';
import { openBackend } from '../../src/store/open.js';
import type { S3Backend } from '../../src/store/s3-backend.js';
import { dropBucket, freshBucket, needRgw, rgwClient, rgwEnv, rgwStoreUrl, type Rgw } from '../helpers/rgw.js';
import { needTool } from '../helpers/tools.js';
import { ageKeygen, writeSops } from '../credentials/sops-writer.js';

const here = path.dirname(fileURLToPath(import.meta.url));
let bucketPromise: Promise<string> | undefined;
const opened: StoreBackend[] = [];
after(async () => {
  for (const b of opened) await b.close();
  if (bucketPromise && rgwForCleanup) await dropBucket(rgwForCleanup, await bucketPromise);
});
let rgwForCleanup: Rgw | undefined;

async function setup(t: TestContext, env?: (rgw: Rgw) => NodeJS.ProcessEnv) {
  const rgw = await needRgw(t);
  if (!rgw) return undefined;
  bucketPromise ??= freshBucket(rgw, 'ingot-backend');
  rgwForCleanup = rgw;
  const bucket = await bucketPromise;
  const prefix = `t-${randomBytes(4).toString('hex')}`;
  const url = rgwStoreUrl(rgw, bucket, prefix);
  const store = (await openBackend(url, { baseDir: '/', env: env ? env(rgw) : rgwEnv(rgw) })) as S3Backend;
  opened.push(store);
  return { rgw, bucket, prefix, url, store };
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Runs `fn` over `items` with at most `limit` at a time. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

test('list paginates past 1,000 keys; delete removes them in batches; GETs vs one listing (timed)', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const keys = Array.from({ length: 1100 }, (_, i) => `metadata/img-${String(i).padStart(4, '0')}.raw.json`);
  await pool(keys, 32, (key) => s.store.put(key, JSON.stringify({ name: key, checksum: `sha256:${'0'.repeat(64)}`, size: 1 })));
  await s.store.put('images/other.raw', 'x');

  let started = performance.now();
  const listed = await collect(s.store.list('metadata/'));
  const listMs = performance.now() - started;
  assert.deepEqual(listed.map((i) => i.key).sort(), [...keys].sort());

  // The measurement for choosing how a no-change sync reads metadata; INGOT_S3_MEASURE=1 for more points.
  for (const concurrency of process.env.INGOT_S3_MEASURE === '1' ? [16, 32, 64] : [32]) {
    started = performance.now();
    let bytes = 0;
    await pool(keys.slice(0, 1000), concurrency, async (key) => {
      const body = await s.store.get(key);
      bytes += body!.length;
    });
    t.diagnostic(`1,000 metadata GETs at concurrency ${concurrency}: ${Math.round(performance.now() - started)} ms (${bytes} bytes)`);
  }
  t.diagnostic(`one paginated listing of metadata/ (1,100 keys, 2 pages): ${Math.round(listMs)} ms`);

  await s.store.delete(keys);
  assert.deepEqual(await collect(s.store.list('metadata/')), []);
  assert.deepEqual(
    (await collect(s.store.list(''))).map((i) => i.key),
    ['images/other.raw'],
  );
});

test('multipart: bytes stream in parts, stay invisible, commit once; abort leaves no object and no pending upload', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const size = 26 * 1024 * 1024 + 123; // 4 parts of 8 MiB: a real multipart upload
  const bytes = randomBytes(size);
  const upload = await s.store.upload('images/big.raw', { sizeHint: size });
  await pipeline(
    Readable.from(
      (function* () {
        for (let o = 0; o < size; o += 1 << 20) yield bytes.subarray(o, o + (1 << 20));
      })(),
    ),
    upload.writable,
  );
  const pending = await collect(s.store.listIncompleteUploads());
  assert.deepEqual(
    pending.map((p) => p.key),
    ['images/big.raw'],
  );
  assert.ok(pending[0]!.initiated instanceof Date);
  assert.equal(await s.store.stat('images/big.raw'), undefined);
  await upload.commit();
  assert.equal((await s.store.stat('images/big.raw'))?.size, size);
  const back = createHash('sha256');
  for await (const c of await s.store.read('images/big.raw')) back.update(c as Buffer);
  assert.equal(back.digest('hex'), createHash('sha256').update(bytes).digest('hex'));
  assert.deepEqual(await collect(s.store.listIncompleteUploads()), []);

  // Abort after parts were sent (as on a digest mismatch): nothing visible, nothing pending.
  const failing = await s.store.upload('images/bad.raw', { sizeHint: size });
  const source = Readable.from(
    (function* () {
      yield bytes.subarray(0, 20 * 1024 * 1024);
      throw new Error('digest mismatch (simulated)');
    })(),
  );
  await assert.rejects(pipeline(source, failing.writable), /digest mismatch/);
  await failing.abort();
  assert.equal(await s.store.stat('images/bad.raw'), undefined);
  assert.deepEqual(await collect(s.store.listIncompleteUploads()), []);
  const client = await rgwClient(s.rgw);
  const raw = await client.send(new ListMultipartUploadsCommand({ Bucket: s.bucket, Prefix: `${s.prefix}/` }));
  client.destroy();
  assert.deepEqual(raw.Uploads ?? [], []);
});

test('a process SIGKILLed mid-upload leaves nothing visible; old pending uploads are aborted by age', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'fixtures', 'slow-upload.ts'), s.url, 'images/killed.raw'], {
    env: { ...process.env, ...rgwEnv(s.rgw), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('uploading') && resolve());
    child.once('exit', (code) => reject(new Error(`fixture exited early (${code})`)));
  });
  child.kill('SIGKILL');
  await exited;
  assert.equal(await s.store.stat('images/killed.raw'), undefined);
  assert.deepEqual(await collect(s.store.list('')), []);
  const pending = await collect(s.store.listIncompleteUploads());
  assert.deepEqual(
    pending.map((p) => p.key),
    ['images/killed.raw'],
  );

  // A young upload is kept (it may be a live run); an old one is aborted.
  assert.deepEqual(await s.store.abortIncompleteUploads(3_600_000), []);
  const aborted = await s.store.abortIncompleteUploads(0);
  assert.deepEqual(
    aborted.map((p) => p.key),
    ['images/killed.raw'],
  );
  assert.deepEqual(await collect(s.store.listIncompleteUploads()), []);
});

test('incomplete uploads: listing paginates and stays inside the prefix', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const client = await rgwClient(s.rgw);
  await client.send(new CreateMultipartUploadCommand({ Bucket: s.bucket, Key: `elsewhere-${s.prefix}/x` }));
  for (let i = 0; i < 3; i++) await client.send(new CreateMultipartUploadCommand({ Bucket: s.bucket, Key: `${s.prefix}/images/p${i}` }));
  client.destroy();
  const mine = await collect(s.store.listIncompleteUploads());
  assert.deepEqual(mine.map((u) => u.key).sort(), ['images/p0', 'images/p1', 'images/p2']);
  assert.equal((await s.store.abortIncompleteUploads(0)).length, 3);
});

test('locks: of 8 concurrent lockers exactly one wins; a waiter times out with the holder named', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const stores = await Promise.all(
    Array.from({ length: 8 }, async () => {
      const b = await openBackend(s.url, { baseDir: '/', env: rgwEnv(s.rgw) });
      opened.push(b);
      return b;
    }),
  );
  const results = await Promise.allSettled(stores.map((b, i) => b.lock({ owner: `ci-job-${i}`, timeoutMs: 0, ttlMs: 60_000, breakExpired: false })));
  const won = results.filter((r) => r.status === 'fulfilled');
  assert.equal(won.length, 1);
  for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as IngotError).code, ErrorCode.storeLocked);

  const started = Date.now();
  await assert.rejects(s.store.lock({ owner: 'late', timeoutMs: 1500, ttlMs: 60_000, breakExpired: false }), (e: unknown) => {
    assert.ok(e instanceof IngotError && e.code === ErrorCode.storeLocked);
    assert.match(e.message, /ci-job-\d on /);
    return true;
  });
  assert.ok(Date.now() - started >= 1400, 'waited for the timeout');
  // A waiter gets the lock once the holder releases it.
  const waiting = s.store.lock({ owner: 'patient', timeoutMs: 10_000, ttlMs: 60_000, breakExpired: false });
  setTimeout(() => void (won[0] as PromiseFulfilledResult<{ release(): Promise<void> }>).value.release(), 300);
  await (await waiting).release();
  // The lock object is the store's own: never listed as content.
  assert.deepEqual(await collect(s.store.list('')), []);
});

test('credentials from a SOPS file (age CLI) reach the store; none needed until first use', async (t) => {
  if (!needTool(t, 'age', 'age') || !needTool(t, 'age-keygen', 'age')) return;
  const rgw = await needRgw(t);
  if (!rgw) return;
  const dir = await mkdtemp(path.join(tmpdir(), 'ingot-s3-sops-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const key = await ageKeygen();
  await writeFile(path.join(dir, 'key.txt'), key.keyFile);
  await writeFile(path.join(dir, 'creds.sops.yaml'), await writeSops({ access_key: rgw.accessKey, secret_key: rgw.secretKey }, [key.recipient]));
  bucketPromise ??= freshBucket(rgw, 'ingot-backend');
  rgwForCleanup = rgw;
  const url = rgwStoreUrl(rgw, await bucketPromise, `sops-${randomBytes(3).toString('hex')}`);
  const store = await openBackend(url, {
    baseDir: '/',
    env: { HOME: dir },
    credentials: { file: path.join(dir, 'creds.sops.yaml'), ageKeyFile: path.join(dir, 'key.txt') },
  });
  opened.push(store);
  await store.put('metadata/x.json', '{}');
  assert.equal((await store.get('metadata/x.json'))?.toString(), '{}');
  assert.match(await (store as S3Backend).credentialsSource(), /^SOPS file .*creds\.sops\.yaml$/);

  // Read-only use: opening needs no credentials; the first request says what is missing.
  const bare = await openBackend(url, { baseDir: '/', env: { HOME: dir }, readOnly: true });
  opened.push(bare);
  await assert.rejects(bare.get('metadata/x.json'), (e: unknown) => e instanceof IngotError && e.code === ErrorCode.credentialsMissing);
});

test('wrong credentials and a missing bucket give clear errors without secrets', async (t) => {
  const rgw = await needRgw(t);
  if (!rgw) return;
  bucketPromise ??= freshBucket(rgw, 'ingot-backend');
  rgwForCleanup = rgw;
  const bucket = await bucketPromise;
  const wrongSecret = 'WRONG-secret-value-1234567890';
  const cases = [
    { env: { INGOT_S3_ACCESS_KEY: rgw.accessKey, INGOT_S3_SECRET_KEY: wrongSecret }, name: 'SignatureDoesNotMatch' },
    { env: { INGOT_S3_ACCESS_KEY: 'NOSUCHKEY123', INGOT_S3_SECRET_KEY: wrongSecret }, name: 'InvalidAccessKeyId' },
  ];
  for (const c of cases) {
    const store = await openBackend(rgwStoreUrl(rgw, bucket, 'x'), { baseDir: '/', env: c.env });
    opened.push(store);
    for (const op of [() => store.get('metadata/a.json'), () => collect(store.list('')), () => store.put('metadata/a.json', 'x')]) {
      await assert.rejects(op(), (e: unknown) => {
        assert.ok(e instanceof IngotError, String(e));
        assert.equal(e.code, ErrorCode.storeAuth);
        assert.match(e.message, new RegExp(`access denied by s3://${bucket}/x/.*${c.name}, HTTP 403`));
        assert.match(e.hint ?? '', /environment \(INGOT_S3_\*\)/);
        const shown = JSON.stringify(e.toJSON()) + e.message + (e.hint ?? '');
        assert.ok(!shown.includes(wrongSecret), 'secret not shown');
        assert.ok(!shown.includes(rgw.secretKey), 'secret not shown');
        return true;
      });
    }
  }
  const missing = await openBackend(rgwStoreUrl(rgw, 'no-such-bucket-ingot'), { baseDir: '/', env: rgwEnv(rgw) });
  opened.push(missing);
  for (const op of [() => missing.get('metadata/a.json'), () => collect(missing.list('')), () => missing.put('index.json', '{}')]) {
    await assert.rejects(op(), (e: unknown) => {
      assert.ok(e instanceof IngotError, String(e));
      assert.equal(e.code, ErrorCode.storeNotFound);
      assert.match(e.message, /bucket "no-such-bucket-ingot" does not exist/);
      assert.match(e.hint ?? '', /create the bucket/);
      return true;
    });
  }
});

test('an interrupted run (AbortSignal) mid-upload leaves no object and no pending upload', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const controller = new AbortController();
  const upload = await s.store.upload('images/interrupted.raw', { signal: controller.signal });
  const source = Readable.from(
    (async function* () {
      for (let i = 0; i < 64; i++) {
        if (i === 20) controller.abort(new Error('interrupted (simulated Ctrl-C)'));
        yield randomBytes(1 << 20);
      }
    })(),
  );
  await assert.rejects(pipeline(source, upload.writable, { signal: controller.signal }));
  await upload.abort();
  assert.equal(await s.store.stat('images/interrupted.raw'), undefined);
  assert.deepEqual(await collect(s.store.listIncompleteUploads()), []);
  // A run-wide signal outlives many uploads: each must remove its listener when settled.
  const run = new AbortController();
  for (const size of [10, 9 << 20]) {
    const ok = await s.store.upload(`images/live-${size}.raw`, { signal: run.signal });
    await pipeline(Readable.from([Buffer.alloc(size, 1)]), ok.writable);
    await ok.commit();
  }
  const gone = await s.store.upload('images/live-aborted.raw', { signal: run.signal });
  await gone.abort();
  assert.equal(getEventListeners(run.signal, 'abort').length, 0, 'no listener left on the run signal');
});
