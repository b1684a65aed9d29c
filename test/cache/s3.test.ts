// The same trust flow against a real S3 store (Ceph RGW): sign, channel, verified pull, tamper refusal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { pull } from '../../src/cache/pull.js';
import { silentLogger } from '../../src/log/logger.js';
import { ImageStore } from '../../src/store/image-store.js';
import { openBackend } from '../../src/store/open.js';
import { setChannel } from '../../src/trust/channels.js';
import { generateSecretKey } from '../../src/trust/keys.js';
import { signStoreIndex } from '../../src/trust/sign-store.js';
import { freshBucket, needRgw, rgwEnv, rgwStoreUrl } from '../helpers/rgw.js';
import { bytesFor, publish, tempDir } from './fixtures.js';

test('sign, channel set and verified pulls work against an S3 store (Ceph RGW)', async (t) => {
  const rgw = await needRgw(t);
  if (!rgw) return;
  const bucket = await freshBucket(rgw, 'ingot-trust');
  const backend = await openBackend(rgwStoreUrl(rgw, bucket, 'lab'), { baseDir: '/', env: rgwEnv(rgw) });
  t.after(() => backend.close());
  const store = new ImageStore(backend);
  const key = generateSecretKey();
  const cache = await tempDir(t);
  for (const v of ['1.0.0', '1.1.0']) await publish(store, { path: `kernel/vmlinuz-${v}`, bytes: bytesFor(`s3-${v}`, 1 << 20), family: 'kernel', version: v });
  assert.deepEqual(await signStoreIndex(store, key, { log: silentLogger }), { version: 1, changed: true });
  await setChannel(store, key, { family: 'kernel', channel: 'stable', version: '1.0.0', log: silentLogger });

  const pulled = await pull({ store, cacheDir: cache, publicKey: key.publicKey, target: 'kernel', channel: 'stable', log: silentLogger });
  assert.equal(pulled.version, '1.0.0');
  assert.deepEqual(await fs.readFile(path.join(cache, 'vmlinuz-1.0.0')), bytesFor('s3-1.0.0', 1 << 20));
  const newest = await pull({ store, cacheDir: cache, publicKey: key.publicKey, target: 'kernel', log: silentLogger });
  assert.equal(newest.version, '1.1.0');

  // Replace the stored bytes behind the index's back: refused, the cache keeps what it had.
  await backend.put('images/kernel/vmlinuz-1.0.0', bytesFor('evil', 1 << 20));
  const fresh = await tempDir(t);
  await assert.rejects(pull({ store, cacheDir: fresh, publicKey: key.publicKey, target: 'kernel/vmlinuz-1.0.0', log: silentLogger }), (e: unknown) => {
    assert.equal((e as { code?: string }).code, 'INGOT_DIGEST_MISMATCH');
    return true;
  });
  assert.equal(await fs.readlink(path.join(cache, 'current-kernel')), 'vmlinuz-1.1.0');
});
