// `ingot serve` over a real Ceph RGW bucket: the page, ranged and conditional downloads (S3 ranged GETs with If-Match), a pull.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { ImageStore } from '../../src/store/image-store.js';
import { openBackend } from '../../src/store/open.js';
import { writeKeyPair } from '../../src/trust/key-files.js';
import { generateSecretKey } from '../../src/trust/keys.js';
import { tempDir } from '../cache/fixtures.js';
import { runCli } from '../helpers/fixtures.js';
import { dropBucket, freshBucket, needRgw, rgwEnv, rgwStoreUrl } from '../helpers/rgw.js';
import { populate } from './fixtures.js';
import { startServe } from './serve-process.js';

const cleanups: (() => Promise<void>)[] = [];
const t = { after: (fn: () => Promise<void>) => void cleanups.push(fn) };
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

describe('ingot serve over S3 (Ceph RGW)', () => {
  it('serves the catalogue, ranges and conditionals from the bucket, and hosts pull from it', async (tc) => {
    const rgw = await needRgw(tc);
    if (!rgw) return;
    const bucket = await freshBucket(rgw, 'ingot-serve');
    t.after(() => dropBucket(rgw, bucket));
    const url = rgwStoreUrl(rgw, bucket, 'lab');
    const dir = await tempDir(t, 'ingot-serve-s3-');
    const key = generateSecretKey();
    const { publicFile } = await writeKeyPair(path.join(dir, 'keys'), key);
    const store = new ImageStore(await openBackend(url, { baseDir: dir, env: rgwEnv(rgw) }));
    const published = await populate(store, key).finally(() => store.backend.close());

    const serve = await startServe(['--store', url, '--public-key', publicFile], { env: rgwEnv(rgw) });
    t.after(async () => void (await serve.stop()));
    const get = (p: string, headers: Record<string, string> = {}) => fetch(serve.url + p, { headers });

    const api = (await (await get('api/v1/catalogue')).json()) as { index: { signature: { status: string } }; totals: { images: number } };
    assert.equal(api.index.signature.status, 'verified');
    assert.equal(api.totals.images, published.size);
    const meta = published.get('talos/talos-1.9.1-amd64.raw')!;
    const whole = Buffer.from(await (await get(meta.key)).arrayBuffer());
    assert.equal(`sha256:${createHash('sha256').update(whole).digest('hex')}`, meta.sha256);
    const head = await fetch(serve.url + meta.key, { method: 'HEAD' });
    const etag = head.headers.get('etag')!;
    assert.equal(head.headers.get('content-length'), String(meta.size));
    const part = await get(meta.key, { range: 'bytes=100-199', 'if-range': etag });
    assert.equal(part.status, 206);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), whole.subarray(100, 200));
    assert.equal((await get(meta.key, { 'if-none-match': etag })).status, 304);
    assert.equal((await get('boot/lab.ipxe')).status, 200);

    // The static catalogue put straight into a bucket (a static website), beside the store.
    const site = rgwStoreUrl(rgw, bucket, 'site');
    const written = await runCli(['catalogue', '--store', url, '--out', site, '--public-key', publicFile], { env: rgwEnv(rgw) });
    assert.equal(written.code, 0, written.stderr);
    const siteStore = await openBackend(site, { baseDir: dir, env: rgwEnv(rgw) });
    try {
      assert.match((await siteStore.get('index.html'))!.toString(), /data-signature="verified"/);
      assert.equal(JSON.parse((await siteStore.get('catalogue.json'))!.toString()).totals.images, published.size);
    } finally {
      await siteStore.close();
    }

    const pulled = await runCli([
      'pull',
      'vyos',
      '--channel',
      'stable',
      '--store',
      serve.url,
      '--to',
      path.join(dir, 'cache'),
      '--public-key',
      publicFile,
      '--json',
    ]);
    assert.equal(pulled.code, 0, pulled.stderr);
    const local = await fs.readFile(JSON.parse(pulled.stdout).localPath);
    assert.equal(`sha256:${createHash('sha256').update(local).digest('hex')}`, published.get('vyos/vyos-gateway-20241220.raw')!.sha256);
  });
});
