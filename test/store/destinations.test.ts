// Issue 17 (2): images may never overwrite the store's own files, and no two may nest ("a" next to "a/b").
// A growable table: each row is a manifest's destinationPrefix and paths, and what validate says.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { checkManifest } from '../../src/manifest/load.js';
import { FsBackend } from '../../src/store/fs-backend.js';
import { ImageStore } from '../../src/store/image-store.js';
import { joinKey, normalisePrefix } from '../../src/store/keys.js';
import { prunePlan } from '../../src/sync/prune.js';
import type { Manifest } from '../../src/manifest/types.js';
import { runCli, sha256, tempDir, writeManifest } from '../helpers/fixtures.js';

const HEX = 'a'.repeat(64);

interface Row {
  name: string;
  /** defaults.destinationPrefix; absent = the default "images/". */
  prefix?: string;
  paths: string[];
  /** The problem validate reports (undefined = the manifest is valid). */
  problem?: 'reserved-destination' | 'destination-collision' | 'unsafe-path';
  /** Which image the problem is reported at ("prefix" = at destinationPrefix). */
  at?: number | 'prefix';
  /** Whether the store layer must refuse the joined key on its own. */
  storeRefuses?: boolean;
}

const table: Row[] = [
  // The store's own files, reached with an empty prefix.
  { name: 'image at index.json', prefix: '', paths: ['index.json'], problem: 'reserved-destination', at: 0, storeRefuses: true },
  { name: 'image at index.json.minisig', prefix: '', paths: ['index.json.minisig'], problem: 'reserved-destination', at: 0, storeRefuses: true },
  { name: 'metadata forged by an image', prefix: '', paths: ['metadata/real.raw.json'], problem: 'reserved-destination', at: 0, storeRefuses: true },
  { name: 'channel file overwritten', prefix: '', paths: ['channels/talos.json'], problem: 'reserved-destination', at: 0, storeRefuses: true },
  { name: 'channel signature overwritten', prefix: '', paths: ['channels/talos.json.minisig'], problem: 'reserved-destination', at: 0, storeRefuses: true },
  { name: 'boot manifest overwritten', prefix: '', paths: ['boot/platform.json'], problem: 'reserved-destination', at: 0, storeRefuses: true },
  { name: 'index.json used as a directory', prefix: '', paths: ['index.json/x.raw'], problem: 'reserved-destination', at: 0, storeRefuses: true },
  { name: 'case-folded catalogue name', prefix: '', paths: ['INDEX.json'], problem: 'reserved-destination', at: 0, storeRefuses: true },
  { name: 'case-folded metadata area', prefix: '', paths: ['Metadata/x.json'], problem: 'reserved-destination', at: 0, storeRefuses: true },
  { name: 'a file named like the metadata area', prefix: '', paths: ['metadata'], problem: 'reserved-destination', at: 0, storeRefuses: true },
  { name: 'lock name', prefix: '', paths: ['.ingot-lock'], problem: 'unsafe-path', at: 0, storeRefuses: true },
  // Reached through the prefix: reported once, at the prefix.
  { name: 'prefix boot/', prefix: 'boot/', paths: ['vmlinuz'], problem: 'reserved-destination', at: 'prefix', storeRefuses: true },
  { name: 'prefix metadata', prefix: 'metadata', paths: ['x.raw'], problem: 'reserved-destination', at: 'prefix', storeRefuses: true },
  { name: 'prefix channels/sub/', prefix: 'channels/sub/', paths: ['x.raw'], problem: 'reserved-destination', at: 'prefix', storeRefuses: true },
  { name: 'prefix index.json.minisig/', prefix: 'index.json.minisig/', paths: ['x.raw'], problem: 'reserved-destination', at: 'prefix', storeRefuses: true },
  // File/directory collisions between images.
  { name: 'a next to a/b', paths: ['a', 'a/b'], problem: 'destination-collision', at: 1 },
  { name: 'a/b/c before a', paths: ['a/b/c', 'a'], problem: 'destination-collision', at: 0 },
  { name: 'collision with an empty prefix', prefix: '', paths: ['os/v1', 'os/v1/disk.raw'], problem: 'destination-collision', at: 1 },
  { name: 'metadata documents nest (a vs a.json/b)', paths: ['a', 'a.json/b'], problem: 'destination-collision', at: 1 },
  // Allowed: names that only look alike.
  { name: 'ordinary path with an empty prefix', prefix: '', paths: ['talos/talos-1.9.1.raw'] },
  { name: 'index.json below the default prefix', paths: ['index.json', 'metadata/x.raw', 'boot/vmlinuz'] },
  { name: 'siblings sharing a name prefix', paths: ['a', 'ab/c', 'a.raw'] },
  { name: 'names that start like reserved areas', prefix: '', paths: ['metadata-x/a.raw', 'bootstrap.raw', 'channelsx', 'index.jsonx'] },
];

function manifestText(row: Row): string {
  const images = row.paths.map((p, i) => ({
    name: `img-${i}`,
    source: { type: 'https', url: `https://example.org/${i}.raw`, checksum: `sha256:${HEX}` },
    destination: { path: p },
  }));
  const defaults = row.prefix === undefined ? {} : { defaults: { destinationPrefix: row.prefix } };
  return JSON.stringify({ apiVersion: 'ingot/v1alpha1', kind: 'ImageManifest', metadata: { name: 't' }, spec: { ...defaults, images } }, null, 2);
}

describe('destination collision table', () => {
  for (const row of table) {
    it(`${row.name}: ${row.problem ?? 'allowed'}`, async () => {
      const text = manifestText(row);
      const result = checkManifest(text, '/tmp/images.yaml');
      const errors = result.problems.filter((p) => p.severity === 'error');
      if (!row.problem) {
        assert.deepEqual(errors, [], 'no problem expected');
      } else {
        const found = errors.find((p) => p.code === row.problem);
        assert.ok(found, `expected ${row.problem}, got ${JSON.stringify(errors.map((p) => p.code))}`);
        const expectedPath = row.at === 'prefix' ? ['spec', 'defaults', 'destinationPrefix'] : ['spec', 'images', row.at, 'destination', 'path'];
        assert.deepEqual(found.path, expectedPath);
        // file:line:col points at the offending value in the text.
        const line = text.split('\n')[found.line - 1] ?? '';
        const value = row.at === 'prefix' ? row.prefix! : row.paths[row.at as number]!;
        assert.ok(line.includes(JSON.stringify(value)), `line ${found.line} is ${line}`);
        assert.equal(line.indexOf(JSON.stringify(value)) + 1, found.column);
      }
      // The store layer refuses the joined key even when a caller skipped validation.
      const store = new ImageStore(new FsBackend(tempDir('ingot-dest-')));
      for (const p of row.paths) {
        const key = joinKey(normalisePrefix(row.prefix ?? 'images/'), p);
        if (row.storeRefuses) {
          await assert.rejects(
            store.beginImage(key),
            (e: { code?: string }) => ['INGOT_DESTINATION_CONFLICT'].includes(e.code ?? '') || /unsafe store key/.test(String(e)),
          );
        } else if (!row.problem) {
          const upload = await store.beginImage(key);
          await upload.abort();
        }
      }
    });
  }
});

describe('destination collisions end to end', () => {
  it('regression: an image at index.json does not sync over the signed index (exit 2, index untouched)', async () => {
    const dir = tempDir('ingot-dest-e2e-');
    const keys = join(dir, 'keys');
    assert.equal((await runCli(['keys', 'generate', '--unencrypted', '--out', keys])).code, 0);
    const bytes = Buffer.from('not a catalogue\n');
    writeFileSync(join(dir, 'payload.bin'), bytes);
    const good = { name: 'good', source: { type: 'file', path: 'payload.bin', checksum: sha256(bytes) }, destination: { path: 'good.raw' } };
    writeManifest(dir, [good], { signing: { key: 'keys/ingot.key' } });
    const first = await runCli(['sync', '--json'], { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    const store = join(dir, '.ingot', 'store');
    const before = readFileSync(join(store, 'index.json'), 'utf8');

    writeManifest(dir, [good, { ...good, name: 'evil', destination: { path: 'index.json' } }], {
      signing: { key: 'keys/ingot.key' },
      defaults: { destinationPrefix: '' },
    });
    const evil = await runCli(['sync'], { cwd: dir });
    assert.equal(evil.code, 2, evil.stderr);
    assert.match(evil.stderr, /reserved-destination/);
    assert.match(evil.stderr, /images\.yaml:\d+:\d+/);
    assert.equal(readFileSync(join(store, 'index.json'), 'utf8'), before, 'the signed index was not touched');
  });

  it('prune never deletes a store file named by forged metadata', async () => {
    const root = tempDir('ingot-dest-prune-');
    const store = new ImageStore(new FsBackend(root));
    writeFileSync(join(root, 'index.json'), '{"signed": true}\n');
    mkdirSync(join(root, 'metadata'), { recursive: true });
    const forged = {
      schemaVersion: 1,
      name: 'x',
      path: 'gone.raw',
      key: 'index.json',
      checksum: `sha256:${HEX}`,
      sha256: `sha256:${HEX}`,
      size: 1,
      uploadedAt: new Date().toISOString(),
      source: { type: 'file' },
    };
    writeFileSync(join(root, 'metadata', 'gone.raw.json'), JSON.stringify(forged));
    const manifest = { images: [], destinationPrefix: '' } as unknown as Manifest;
    const plan = await prunePlan(store, manifest);
    assert.equal(plan.remove.length, 1);
    assert.equal(plan.remove[0]!.imageKey, undefined, 'only the metadata is removed');
    assert.match(plan.warnings.join('\n'), /index\.json.*signed catalogue/);
    await assert.rejects(store.removeImage('metadata/gone.raw.json', 'index.json'), { code: 'INGOT_DESTINATION_CONFLICT' });
    assert.equal(readFileSync(join(root, 'index.json'), 'utf8'), '{"signed": true}\n');
  });

  it('a file and a directory colliding in a directory store is a clear error, not INGOT_INTERNAL', async () => {
    const store = new ImageStore(new FsBackend(tempDir('ingot-dest-nest-')));
    const first = await store.beginImage('images/a');
    await pipeline(Readable.from([Buffer.from('a')]), first.writable);
    await first.commit();
    await assert.rejects(store.beginImage('images/a/b'), { code: 'INGOT_DESTINATION_CONFLICT' });
  });
});
