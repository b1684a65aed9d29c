// Issue 17 (4): rollback protection follows the signed catalogue (key id + storeId), not the store URL's spelling.
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { test } from 'node:test';
import { pullBootSet, type BootPullOptions } from '../../src/cache/boot-pull.js';
import { loadBootState } from '../../src/cache/boot-pairs.js';
import { pull, type PullOptions } from '../../src/cache/pull.js';
import { loadState } from '../../src/cache/state.js';
import { silentLogger } from '../../src/log/logger.js';
import { FsBackend } from '../../src/store/fs-backend.js';
import { ImageStore } from '../../src/store/image-store.js';
import { INDEX_KEY, parseIndex, serializeIndex, type Index } from '../../src/trust/catalogue.js';
import { keyIdHex } from '../../src/trust/minisign-format.js';
import { signStoreIndex } from '../../src/trust/sign-store.js';
import { putSigned } from '../../src/trust/signed-object.js';
import { bytesFor, publish, publishBootPair, signBootManifest, signedStore, tempDir, testBootPair } from './fixtures.js';

const code = (c: string) => (e: unknown) => {
  assert.equal((e as { code?: string }).code, c, (e as Error).message);
  return true;
};

async function readIndex(dir: string): Promise<Index> {
  return parseIndex(await fs.readFile(path.join(dir, 'index.json')));
}

test('regression: the same store through a symlinked path cannot replay an older index (current stays 2.0.0)', async (t) => {
  const s = await signedStore(t);
  await publish(s.store, { path: 'os/os-1.0.0.img', bytes: bytesFor('1', 3000), family: 'os', version: '1.0.0' });
  await s.sign();
  const oldIndex = await fs.readFile(path.join(s.dir, 'index.json'));
  const oldSig = await fs.readFile(path.join(s.dir, 'index.json.minisig'));
  await publish(s.store, { path: 'os/os-2.0.0.img', bytes: bytesFor('2', 3000), family: 'os', version: '2.0.0' });
  assert.equal(await s.sign(), 2);
  const cache = await tempDir(t);
  const base = (store: ImageStore): PullOptions => ({ store, cacheDir: cache, publicKey: s.key.publicKey, target: 'os', log: silentLogger });
  assert.equal((await pull(base(s.store))).version, '2.0.0');

  // The attacker replays index version 1 and reaches the store by another spelling of its path.
  await fs.writeFile(path.join(s.dir, 'index.json'), oldIndex);
  await fs.writeFile(path.join(s.dir, 'index.json.minisig'), oldSig);
  const links = await tempDir(t, 'ingot-links-');
  await fs.symlink(s.dir, path.join(links, 'same-store'));
  const aliased = new ImageStore(new FsBackend(path.join(links, 'same-store')));
  assert.notEqual(aliased.displayUrl, s.store.displayUrl);
  await assert.rejects(pull(base(aliased)), code('INGOT_INDEX_ROLLBACK'));
  assert.equal(await fs.readlink(path.join(cache, 'current-os')), 'os-2.0.0.img', 'current was not rolled back');
});

test('the store id is made once and kept by every re-signing; another store gets its own', async (t) => {
  const a = await signedStore(t);
  await a.sign();
  const first = (await readIndex(a.dir)).storeId;
  assert.match(first ?? '', /^[0-9a-f-]{36}$/);
  await a.sign();
  await signStoreIndex(a.store, a.key, { log: silentLogger });
  assert.equal((await readIndex(a.dir)).storeId, first);
  const b = await signedStore(t);
  await b.sign();
  assert.notEqual((await readIndex(b.dir)).storeId, first);
});

test('a store id in a forged (unverifiable) index is not adopted by the signer', async (t) => {
  const s = await signedStore(t);
  await s.sign();
  const index = await readIndex(s.dir);
  await fs.writeFile(path.join(s.dir, 'index.json'), serializeIndex({ ...index, storeId: 'chosen-by-attacker' }));
  await s.sign();
  const after = await readIndex(s.dir);
  assert.notEqual(after.storeId, 'chosen-by-attacker');
  assert.ok(after.version > index.version, 'the version still only grows');
});

test('an index from before store ids is re-signed once to gain one, even with --if-changed', async (t) => {
  const s = await signedStore(t);
  await publish(s.store, { path: 'a.img', bytes: bytesFor('a', 100) });
  await s.sign();
  const legacy = await readIndex(s.dir);
  delete legacy.storeId;
  await putSigned(s.store.backend, INDEX_KEY, Buffer.from(serializeIndex(legacy)), s.key, { now: new Date() });
  const result = await signStoreIndex(s.store, s.key, { log: silentLogger });
  assert.equal(result.changed, true);
  assert.ok((await readIndex(s.dir)).storeId);
  assert.equal((await signStoreIndex(s.store, s.key, { log: silentLogger })).changed, false, 'then no churn');
});

test('migration: a cache written before store ids keeps its floor; an index without a store id is refused once the key moved on', async (t) => {
  const s = await signedStore(t);
  await publish(s.store, { path: 'a.img', bytes: bytesFor('a', 100) });
  for (let i = 0; i < 3; i++) await s.sign(); // version 3, with a store id
  const v3 = await readIndex(s.dir);
  const cache = await tempDir(t);
  // The state an older ingot wrote after accepting version 5 from this URL.
  await fs.mkdir(path.join(cache, '.ingot'), { recursive: true });
  const legacy = { schemaVersion: 1, stores: { [s.store.displayUrl]: { indexVersion: 5, acceptedAt: '2026-01-01T00:00:00.000Z', channels: {} } }, entries: [] };
  await fs.writeFile(path.join(cache, '.ingot', 'state.json'), JSON.stringify(legacy));
  const base: PullOptions = { store: s.store, cacheDir: cache, publicKey: s.key.publicKey, target: 'a.img', log: silentLogger };
  await assert.rejects(pull(base), code('INGOT_INDEX_ROLLBACK'), 'the legacy floor (5) guards the new identity');
  await s.sign();
  await s.sign();
  await s.sign(); // version 6
  assert.equal((await pull(base)).indexVersion, 6);
  const state = await loadState(cache);
  const id = `${keyIdHex(s.key.publicKey.keyId)}/${v3.storeId}`;
  assert.equal(state.catalogues?.[id]?.indexVersion, 6);
  assert.equal(state.stores[s.store.displayUrl]?.indexVersion, 5, 'the legacy record is left as it was');

  // An index signed before store ids (version 7, even higher) is a replay now: this key's catalogues carry one.
  const old = { ...(await readIndex(s.dir)), version: 7 };
  delete old.storeId;
  await putSigned(s.store.backend, INDEX_KEY, Buffer.from(serializeIndex(old)), s.key, { now: new Date() });
  await assert.rejects(pull(base), code('INGOT_INDEX_ROLLBACK'));
  assert.equal((await pull({ ...base, allowRollback: true })).indexVersion, 7);
});

// Boot sets (issue 10) share the catalogue's identity: the index floor and the boot manifest's replay floor.
test('regression: a boot-set pull through a symlinked store path does not accept a replayed older boot manifest, nor an older index', async (t) => {
  const s = await signedStore(t);
  const [one, two] = [testBootPair(1), testBootPair(2)];
  await publishBootPair(s.store, one);
  await publishBootPair(s.store, two);
  await s.sign();
  const t0 = Date.parse('2026-03-01T00:00:00Z');
  await signBootManifest(s.store, s.key, 'default', one, new Date(t0));
  const oldManifest = await fs.readFile(path.join(s.dir, 'boot', 'default.json'));
  const oldSig = await fs.readFile(path.join(s.dir, 'boot', 'default.json.minisig'));
  const cache = await tempDir(t);
  const base = (store: ImageStore): BootPullOptions => ({ store, cacheDir: cache, publicKey: s.key.publicKey, set: 'default', log: silentLogger });
  await pullBootSet(base(s.store));
  await signBootManifest(s.store, s.key, 'default', two, new Date(t0 + 60_000));
  await pullBootSet(base(s.store));
  assert.equal(await fs.readlink(path.join(cache, 'current')), path.posix.basename(two.kernel.path));

  // The floor is the catalogue's, not the URL's.
  const v = await readIndex(s.dir);
  const id = `${keyIdHex(s.key.publicKey.keyId)}/${v.storeId}`;
  assert.deepEqual(Object.keys((await loadBootState(cache)).manifests), [`${id} default`]);

  // The attacker replays the older, validly signed boot manifest and reaches the store by another spelling of its path.
  await fs.writeFile(path.join(s.dir, 'boot', 'default.json'), oldManifest);
  await fs.writeFile(path.join(s.dir, 'boot', 'default.json.minisig'), oldSig);
  const links = await tempDir(t, 'ingot-links-');
  await fs.symlink(s.dir, path.join(links, 'same-store'));
  const aliased = new ImageStore(new FsBackend(path.join(links, 'same-store')));
  assert.notEqual(aliased.displayUrl, s.store.displayUrl);
  await assert.rejects(pullBootSet(base(aliased)), code('INGOT_BOOT_MANIFEST_ROLLBACK'));
  assert.equal(await fs.readlink(path.join(cache, 'current')), path.posix.basename(two.kernel.path), 'current was not rolled back');
  assert.equal(await fs.readlink(path.join(cache, 'current-initramfs')), path.posix.basename(two.initramfs.path));

  // An older index through the alias is a rollback too: boot-set pulls raise and obey the same floor.
  const oldIndex = await fs.readFile(path.join(s.dir, 'index.json'));
  const oldIndexSig = await fs.readFile(path.join(s.dir, 'index.json.minisig'));
  await s.sign();
  await signBootManifest(s.store, s.key, 'default', two, new Date(t0 + 120_000));
  await pullBootSet(base(s.store));
  assert.equal((await loadState(cache)).catalogues?.[id]?.indexVersion, 2);
  await fs.writeFile(path.join(s.dir, 'index.json'), oldIndex);
  await fs.writeFile(path.join(s.dir, 'index.json.minisig'), oldIndexSig);
  await assert.rejects(pullBootSet(base(aliased)), code('INGOT_INDEX_ROLLBACK'));
});

test('migration: a boot manifest floor recorded per store URL guards the catalogue identity the first time', async (t) => {
  const s = await signedStore(t);
  const one = testBootPair(1);
  await publishBootPair(s.store, one);
  await s.sign();
  const t0 = Date.parse('2026-03-01T00:00:00Z');
  await signBootManifest(s.store, s.key, 'default', one, new Date(t0));
  const cache = await tempDir(t);
  // What a cache from before catalogue identities recorded: a newer manifest accepted from this URL.
  await fs.mkdir(path.join(cache, '.ingot'), { recursive: true });
  const legacy = { schemaVersion: 1, pairs: [], manifests: { [`${s.store.displayUrl} default`]: t0 / 1000 + 60 } };
  await fs.writeFile(path.join(cache, '.ingot', 'boot.json'), JSON.stringify(legacy));
  const base: BootPullOptions = { store: s.store, cacheDir: cache, publicKey: s.key.publicKey, set: 'default', log: silentLogger };
  await assert.rejects(pullBootSet(base), code('INGOT_BOOT_MANIFEST_ROLLBACK'));
  await signBootManifest(s.store, s.key, 'default', one, new Date(t0 + 120_000));
  await pullBootSet(base);
  const id = `${keyIdHex(s.key.publicKey.keyId)}/${(await readIndex(s.dir)).storeId}`;
  const manifests = (await loadBootState(cache)).manifests;
  assert.equal(manifests[`${id} default`], t0 / 1000 + 120);
  assert.equal(manifests[`${s.store.displayUrl} default`], t0 / 1000 + 60, 'the legacy record is left as it was');
});
