// The signed catalogue: contents, versioning policy, and minisign -V on what is written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { run } from '../../src/exec/run.js';
import { silentLogger } from '../../src/log/logger.js';
import { INDEX_KEY, buildIndex, parseIndex } from '../../src/trust/catalogue.js';
import { writeKeyPair } from '../../src/trust/key-files.js';
import { generateSecretKey } from '../../src/trust/keys.js';
import { signStoreIndex } from '../../src/trust/sign-store.js';
import { getVerified } from '../../src/trust/signed-object.js';
import { bytesFor, publish, signedStore, tempDir } from '../cache/fixtures.js';
import { needTool } from '../helpers/tools.js';

const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;

test('buildIndex lists every published image with digests of bytes and metadata', async (t) => {
  const { dir, store } = await signedStore(t);
  const a = await publish(store, {
    path: 'kernels/vmlinuz-6.1',
    bytes: bytesFor('a', 1000),
    family: 'kernel',
    version: '6.1',
    compatibility: { protocols: [1] },
  });
  await publish(store, { path: 'initramfs/init-1.0.img', bytes: bytesFor('b', 2000) });
  const index = await buildIndex(store, { log: silentLogger, now: new Date('2026-01-01T00:00:00Z'), expiresInMs: 3_600_000 });
  assert.equal(index.version, 1);
  assert.equal(index.expires, '2026-01-01T01:00:00.000Z');
  assert.deepEqual(
    index.images.map((e) => e.path),
    ['initramfs/init-1.0.img', 'kernels/vmlinuz-6.1'],
  );
  const k = index.images[1]!;
  assert.equal(k.sha256, a.sha256);
  assert.equal(k.size, 1000);
  assert.equal(k.family, 'kernel');
  assert.deepEqual(k.compatibility, { protocols: [1] });
  const metaBytes = await fs.readFile(path.join(dir, 'metadata/kernels/vmlinuz-6.1.json'));
  assert.equal(k.metadata, `sha256:${createHash('sha256').update(metaBytes).digest('hex')}`);
});

test('signStoreIndex: versions grow on change, not on a no-change re-run; renewal near expiry bumps too', async (t) => {
  const { store, key } = await signedStore(t);
  await publish(store, { path: 'a.img', bytes: bytesFor('a', 10) });
  const t0 = new Date('2026-01-01T00:00:00Z');
  const opts = { log: silentLogger, expiresInMs: 7 * 86_400_000 };
  assert.deepEqual(await signStoreIndex(store, key, { ...opts, now: t0 }), { version: 1, changed: true });
  assert.deepEqual(await signStoreIndex(store, key, { ...opts, now: new Date('2026-01-02T00:00:00Z') }), { version: 1, changed: false });
  await publish(store, { path: 'b.img', bytes: bytesFor('b', 10) });
  assert.deepEqual(await signStoreIndex(store, key, { ...opts, now: new Date('2026-01-02T00:00:00Z') }), { version: 2, changed: true });
  // More than half the validity gone: re-signed with a new expiry and a new version.
  assert.deepEqual(await signStoreIndex(store, key, { ...opts, now: new Date('2026-01-06T00:00:00Z') }), { version: 3, changed: true });
  assert.deepEqual(await signStoreIndex(store, key, { ...opts, now: new Date('2026-01-06T00:00:00Z'), force: true }), { version: 4, changed: true });
  const verified = await getVerified(store.backend, INDEX_KEY, key.publicKey);
  assert.match(verified!.signature.trustedComment, /^timestamp:\d+\tfile:index\.json\tversion:4$/);
  assert.equal(parseIndex(verified!.bytes).version, 4);

  // An index signed by another key is replaced, and its version is still the floor.
  const other = generateSecretKey();
  await signStoreIndex(store, other, { ...opts, force: true, now: t0 });
  const after = await signStoreIndex(store, key, { ...opts, now: t0 });
  assert.deepEqual(after, { version: 6, changed: true });
});

test('index.json.minisig written by ingot passes minisign -V; a tampered index fails both', async (t) => {
  if (!needTool(t, 'minisign')) return;
  const { dir, store, key } = await signedStore(t);
  const keys = await tempDir(t, 'ingot-keys-');
  const { publicFile } = await writeKeyPair(keys, key, {});
  await publish(store, { path: 'x/y.img', bytes: bytesFor('y', 4096) });
  await signStoreIndex(store, key, { log: silentLogger });
  const result = await run('minisign', ['-V', '-m', path.join(dir, 'index.json'), '-p', publicFile]);
  assert.match(result.stdout, /Trusted comment: timestamp:\d+\tfile:index\.json\tversion:1/);
  const text = await fs.readFile(path.join(dir, 'index.json'), 'utf8');
  await fs.writeFile(path.join(dir, 'index.json'), text.replace('"size": 4096', '"size": 4097'));
  const bad = await run('minisign', ['-V', '-m', path.join(dir, 'index.json'), '-p', publicFile], { reject: false });
  assert.notEqual(bad.exitCode, 0);
  await assert.rejects(getVerified(store.backend, INDEX_KEY, key.publicKey, { retryDelayMs: 1 }), code('INGOT_SIGNATURE_INVALID'));
});

test('an index signed by minisign -S itself is accepted; a signature for another file name is not', async (t) => {
  if (!needTool(t, 'minisign')) return;
  const { dir, store } = await signedStore(t);
  const keys = await tempDir(t, 'ingot-keys-');
  await run('minisign', ['-G', '-W', '-p', path.join(keys, 'm.pub'), '-s', path.join(keys, 'm.key')]);
  const { readPublicKey } = await import('../../src/trust/key-files.js');
  const pk = await readPublicKey(path.join(keys, 'm.pub'));
  await publish(store, { path: 'z.img', bytes: bytesFor('z', 100) });
  const index = await buildIndex(store, { log: silentLogger });
  await fs.writeFile(path.join(dir, 'index.json'), JSON.stringify(index));
  await run('minisign', ['-S', '-s', path.join(keys, 'm.key'), '-m', path.join(dir, 'index.json')]);
  const ok = await getVerified(store.backend, INDEX_KEY, pk);
  assert.equal(parseIndex(ok!.bytes).images[0]!.path, 'z.img');
  // Same bytes, signed as "other.json": refused even though the signature is valid.
  await fs.copyFile(path.join(dir, 'index.json'), path.join(dir, 'other.json'));
  await run('minisign', ['-S', '-s', path.join(keys, 'm.key'), '-m', path.join(dir, 'other.json')]);
  await fs.copyFile(path.join(dir, 'other.json.minisig'), path.join(dir, 'index.json.minisig'));
  await assert.rejects(getVerified(store.backend, INDEX_KEY, pk, { retryDelayMs: 1 }), code('INGOT_SIGNATURE_INVALID'));
});

test('one malformed metadata document is left out of the index instead of breaking every host (regression)', async (t) => {
  const { store } = await signedStore(t);
  await publish(store, { path: 'good.img', bytes: bytesFor('g', 100), family: 'os', version: '1' });
  const bad = await publish(store, { path: 'bad.img', bytes: bytesFor('b', 100), family: 'os', version: '2' });
  void bad;
  const metaKey = store.metadataKey('bad.img');
  const meta = JSON.parse((await store.backend.get(metaKey))!.toString());
  delete meta.name;
  meta.family = '../../escape';
  await store.backend.put(metaKey, JSON.stringify(meta));
  const index = await buildIndex(store, { log: silentLogger, now: new Date('2026-01-01T00:00:00Z'), expiresInMs: 3_600_000 });
  assert.deepEqual(
    index.images.map((e) => e.path),
    ['good.img'],
  );
  const tampered = JSON.stringify({ ...index, images: [{ ...index.images[0], family: '../../tmp/x' }] });
  assert.throws(() => parseIndex(Buffer.from(tampered)), code('INGOT_INDEX_INVALID'));
});
