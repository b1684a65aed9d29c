// Issue 16 (3): a no-change re-sync plans from the verified signed index plus one listing instead of one
// metadata read per image; anything the index does not vouch for is read, and changes are still found.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/log/logger.js';
import { noProgress } from '../../src/log/progress.js';
import { loadManifest } from '../../src/manifest/load.js';
import type { StoreBackend } from '../../src/store/backend.js';
import { FsBackend } from '../../src/store/fs-backend.js';
import { ImageStore } from '../../src/store/image-store.js';
import { runSync } from '../../src/sync/sync.js';
import { INDEX_KEY, parseIndex } from '../../src/trust/catalogue.js';
import { generateSecretKey } from '../../src/trust/keys.js';
import { signStoreIndex } from '../../src/trust/sign-store.js';
import { sha256, tempDir, writeManifest } from '../helpers/fixtures.js';

const log = createLogger({ format: 'json', level: 'error', write: () => undefined });

/** The backend with every get() of a metadata document counted. */
function counting(backend: StoreBackend): { backend: StoreBackend; metadataGets: string[] } {
  const metadataGets: string[] = [];
  const get: StoreBackend['get'] = (key, signal, options) => {
    if (key.startsWith('metadata/')) metadataGets.push(key);
    return backend.get(key, signal, options);
  };
  const wrapped = new Proxy(backend, {
    get(target, prop) {
      if (prop === 'get') return get;
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { backend: wrapped, metadataGets };
}

async function setup(count: number) {
  const dir = tempDir('ingot-index-plan-');
  const images = [];
  for (let i = 0; i < count; i++) {
    const body = `image ${i}\n`.repeat(40);
    writeFileSync(join(dir, `${i}.img`), body);
    images.push({
      name: `img-${i}`,
      family: 'f',
      version: String(i),
      source: { type: 'file', path: `${i}.img`, checksum: sha256(body) },
      destination: { path: `set/${i}.img` },
    });
  }
  const file = writeManifest(dir, images);
  const key = generateSecretKey();
  const fs = new FsBackend(join(dir, 'store'));
  const sync = async (backend: StoreBackend, publicKey = key.publicKey) => {
    const loaded = await loadManifest(file);
    assert.ok(loaded.manifest, JSON.stringify(loaded.problems));
    const result = await runSync({
      manifest: loaded.manifest,
      store: new ImageStore(backend),
      images: loaded.manifest.images,
      dryRun: false,
      force: false,
      concurrency: 2,
      decompressor: 'auto',
      http: {},
      log,
      progress: noProgress,
      signal: new AbortController().signal,
      env: {},
      ...(publicKey ? { publicKey } : {}),
    } as Parameters<typeof runSync>[0]);
    return result;
  };
  const first = await sync(fs);
  assert.equal(first.failed, 0);
  await signStoreIndex(new ImageStore(fs), key, { log });
  return { dir, file, key, fs, sync, images };
}

describe('re-sync from the signed index', () => {
  it('a no-change re-sync reads no metadata document; every image is skipped; the index records listing validators', async () => {
    const { fs, sync, key } = await setup(20);
    const index = parseIndex(readFileSync(join(fs.root, INDEX_KEY)));
    assert.ok(
      index.images.every((e) => typeof e.metadataEtag === 'string' && e.metadataEtag.length > 0),
      'every entry has its validator',
    );
    const { backend, metadataGets } = counting(fs);
    const again = await sync(backend);
    assert.deepEqual(metadataGets, []);
    assert.deepEqual(new Set(again.outcomes.map((o) => o.status)), new Set(['skipped']));
    assert.equal(again.outcomes[3]!.checksum, index.images.find((e) => e.name === 'img-3')!.checksum);
    // Re-signing after a no-change run keeps the index (version) and reads no document either.
    const signed = await signStoreIndex(new ImageStore(backend), key, { log });
    assert.deepEqual({ ...signed, gets: metadataGets.length }, { version: index.version, changed: false, gets: 0 });
  });

  it('without the public key (no signing key configured) every document is read: an unverified index is never trusted', async () => {
    const { fs, sync } = await setup(5);
    const { backend, metadataGets } = counting(fs);
    await sync(backend, null as never);
    assert.equal(metadataGets.length, 5);
  });

  it('a tampered index (signature fails) or one signed by another key is not used: every document is read', async () => {
    const { fs, sync } = await setup(5);
    const indexFile = join(fs.root, INDEX_KEY);
    const original = readFileSync(indexFile, 'utf8');
    writeFileSync(indexFile, original.replace('"images": [', '"images":  ['));
    const tampered = counting(fs);
    const r = await sync(tampered.backend);
    assert.equal(tampered.metadataGets.length, 5);
    assert.equal(r.failed, 0);
    writeFileSync(indexFile, original);
    const other = counting(fs);
    await sync(other.backend, generateSecretKey().publicKey);
    assert.equal(other.metadataGets.length, 5);
  });

  it('a metadata document rewritten after signing is read (validator differs), and the change it carries is acted on', async () => {
    const { fs, sync } = await setup(4);
    // Someone rewrites img-2's metadata in place (same key, new bytes): the index no longer vouches for it.
    const metaFile = join(fs.root, 'metadata', 'set', '2.img.json');
    const meta = JSON.parse(readFileSync(metaFile, 'utf8'));
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(metaFile, `${JSON.stringify({ ...meta, checksum: `sha256:${'0'.repeat(64)}` }, null, 2)}\n`);
    const { backend, metadataGets } = counting(fs);
    const r = await sync(backend);
    assert.deepEqual(metadataGets, ['metadata/set/2.img.json']);
    const two = r.outcomes.find((o) => o.name === 'img-2')!;
    assert.equal(two.action, 'republish');
    assert.equal(two.error?.message, undefined);
    assert.equal(two.status, 'published');
  });

  it('an image the index does not list (published after signing) is read; a deleted document means publish', async () => {
    const { fs, sync, file, images } = await setup(3);
    // A fourth image is published without re-signing: no entry for it.
    const body = 'late\n'.repeat(10);
    writeFileSync(join(file, '..', 'late.img'), body);
    writeManifest(join(file, '..'), [
      ...images,
      { name: 'late', source: { type: 'file', path: 'late.img', checksum: sha256(body) }, destination: { path: 'set/late.img' } },
    ]);
    await sync(fs);
    const { backend, metadataGets } = counting(fs);
    const r = await sync(backend);
    assert.deepEqual(metadataGets, ['metadata/set/late.img.json']);
    assert.ok(r.outcomes.every((o) => o.status === 'skipped'));
    // The index vouches for img-0, but its document is gone: the listing says so and it is published again.
    await fs.delete(['metadata/set/0.img.json']);
    const after = await sync(fs);
    assert.equal(after.outcomes.find((o) => o.name === 'img-0')!.action, 'publish');
  });

  it('a change in the manifest is still detected against the index: new digest → republish, new version → update', async () => {
    const { fs, sync, file, images } = await setup(3);
    const body = 'changed\n'.repeat(10);
    writeFileSync(join(file, '..', 'c.img'), body);
    const changed = images.map((img, i) =>
      i === 0 ? { ...img, source: { type: 'file', path: 'c.img', checksum: sha256(body) } } : i === 1 ? { ...img, version: 'new' } : img,
    );
    writeManifest(join(file, '..'), changed);
    const { backend, metadataGets } = counting(fs);
    const r = await sync(backend);
    const byName = Object.fromEntries(r.outcomes.map((o) => [o.name, o]));
    assert.equal(byName['img-0']!.action, 'republish');
    assert.equal(byName['img-0']!.status, 'published');
    assert.equal(byName['img-1']!.action, 'update');
    assert.equal(byName['img-1']!.status, 'updated');
    assert.equal(byName['img-2']!.status, 'skipped');
    // Only the update re-reads its document (to check the bytes did not change under it); planning read none.
    assert.deepEqual(metadataGets, ['metadata/set/1.img.json']);
  });
});
