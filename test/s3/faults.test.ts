// Fault injection between the S3 backend and a real RGW: 500s, 503 SlowDown
// and cut connections on a fixed schedule. Every operation still succeeds
// through the SDK's bounded retries, and the bytes in RGW are intact.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { ErrorCode, IngotError } from '../../src/errors.js';
import { openBackend } from '../../src/store/open.js';
import { dropBucket, freshBucket, needRgw, rgwEnv, rgwStoreUrl } from '../helpers/rgw.js';
import { startFaultProxy, type Fault } from './fault-proxy.js';

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('500, 503 SlowDown and cut connections: every operation succeeds and the data is intact', async (t) => {
  const rgw = await needRgw(t);
  if (!rgw) return;
  const bucket = await freshBucket(rgw, 'ingot-faults');
  t.after(() => dropBucket(rgw, bucket));
  // Every third request fails, cycling through the three faults: never two in a row.
  const kinds: Fault[] = ['500', '503', 'cut'];
  const proxy = await startFaultProxy(rgw.endpoint, (n) => (n % 3 === 0 ? kinds[(n / 3) % 3]! : 'pass'));
  t.after(() => proxy.close());
  const store = await openBackend(rgwStoreUrl(rgw, bucket, 'p', proxy.endpoint), { baseDir: '/', env: rgwEnv(rgw) });
  const direct = await openBackend(rgwStoreUrl(rgw, bucket, 'p'), { baseDir: '/', env: rgwEnv(rgw) });
  t.after(() => Promise.all([store.close(), direct.close()]));

  const small = Array.from({ length: 24 }, (_, i) => ({ key: `metadata/m${i}.json`, body: randomBytes(200 + i) }));
  for (const { key, body } of small) await store.put(key, body);
  for (const { key, body } of small) assert.equal(sha((await store.get(key))!), sha(body));

  const size = 3 * 8 * 1024 * 1024 + 999; // four parts
  const big = randomBytes(size);
  const upload = await store.upload('images/big.raw', { sizeHint: size });
  await pipeline(
    Readable.from(
      (function* () {
        for (let o = 0; o < size; o += 1 << 20) yield big.subarray(o, o + (1 << 20));
      })(),
    ),
    upload.writable,
  );
  await upload.commit();

  const listed = await collect(store.list(''));
  assert.equal(listed.length, small.length + 1);
  const lock = await store.lock({ owner: 'faulty', timeoutMs: 5000, ttlMs: 60_000, breakExpired: false });
  await lock.release();
  await store.delete(small.slice(0, 12).map((s) => s.key));

  // Check through a clean connection: what RGW holds is exactly what was sent.
  const back = createHash('sha256');
  for await (const c of await direct.read('images/big.raw')) back.update(c as Buffer);
  assert.equal(back.digest('hex'), sha(big));
  assert.deepEqual(
    (await collect(direct.list('metadata/'))).map((i) => i.key).sort(),
    small
      .slice(12)
      .map((s) => s.key)
      .sort(),
  );
  for (const { key, body } of small.slice(12)) assert.equal(sha((await direct.get(key))!), sha(body));
  assert.deepEqual(await collect(direct.listIncompleteUploads!()), []);
  assert.ok(proxy.stats['500'] > 3 && proxy.stats['503'] > 3 && proxy.stats.cut > 3, JSON.stringify(proxy.stats));
  t.diagnostic(`faults injected: ${JSON.stringify(proxy.stats)}`);
});

test('a server that keeps failing gives up after the bounded retries with a clear error', async (t) => {
  const rgw = await needRgw(t);
  if (!rgw) return;
  const proxy = await startFaultProxy(rgw.endpoint, () => '503');
  t.after(() => proxy.close());
  const store = await openBackend(rgwStoreUrl(rgw, 'any-bucket', '', proxy.endpoint), { baseDir: '/', env: rgwEnv(rgw) });
  t.after(() => store.close());
  await assert.rejects(store.get('metadata/x.json'), (e: unknown) => {
    assert.ok(e instanceof IngotError, String(e));
    assert.equal(e.code, ErrorCode.storeIo);
    assert.match(e.message, /SlowDown, HTTP 503/);
    return true;
  });
  assert.equal(proxy.stats['503'], 6, 'maxAttempts = 6');
});
