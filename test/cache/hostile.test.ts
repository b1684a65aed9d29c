// Issue 17 (3, 11): a neighbour who can write into the host cache plants symlinks or edits state.json.
// A growable table: each row plants something, runs one cache operation, and says how it must end —
// and nothing outside the cache may ever be written or deleted.
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { test } from 'node:test';
import { pull, type PullOptions } from '../../src/cache/pull.js';
import { rollbackCached, useCached } from '../../src/cache/switch.js';
import { silentLogger } from '../../src/log/logger.js';
import { bytesFor, publish, signedStore, tempDir } from './fixtures.js';

const V1 = bytesFor('os-1', 4000);
const V2 = bytesFor('os-2', 4000);

interface World {
  cache: string;
  /** A directory outside the cache holding files nobody may touch. */
  outside: string;
  base: (over?: Partial<PullOptions>) => PullOptions;
  /** Pulls version 1 then 2 of family "os" (current → 2). */
  pullBoth: () => Promise<void>;
}

type Act = 'pull' | 'use 1' | 'rollback';

interface Row {
  name: string;
  /** Pull both versions before planting (the attack targets an existing cache). */
  populated?: boolean;
  plant: (w: World) => Promise<void>;
  act: Act;
  /** An error code, or "ok". */
  expect: string;
  /** Extra checks after the act. */
  after?: (w: World) => Promise<void>;
}

const editState = async (w: World, edit: (state: { entries: Record<string, unknown>[] }) => void) => {
  const file = path.join(w.cache, '.ingot', 'state.json');
  const state = JSON.parse(await fs.readFile(file, 'utf8'));
  edit(state);
  await fs.writeFile(file, JSON.stringify(state));
};
const extraEntry = (file: string, family = 'os') => ({
  file,
  family,
  name: 'x',
  path: 'x',
  sha256: `sha256:${'0'.repeat(64)}`,
  checksum: `sha256:${'0'.repeat(64)}`,
  size: 1,
  pulledAt: '2000-01-01T00:00:00.000Z',
  store: 'x',
});

const table: Row[] = [
  {
    name: '.ingot is a symlink to a directory outside',
    plant: async (w) => {
      await fs.mkdir(path.join(w.outside, 'tmp'), { recursive: true });
      await fs.writeFile(path.join(w.outside, 'tmp', 'keep'), 'keep');
      await fs.symlink(w.outside, path.join(w.cache, '.ingot'));
    },
    act: 'pull',
    expect: 'INGOT_CACHE_UNSAFE',
    after: async (w) => assert.deepEqual((await fs.readdir(w.outside)).sort(), ['keep', 'tmp']),
  },
  {
    name: '.ingot is a regular file',
    plant: async (w) => fs.writeFile(path.join(w.cache, '.ingot'), 'x'),
    act: 'pull',
    expect: 'INGOT_CACHE_UNSAFE',
  },
  {
    name: '.ingot/tmp is a symlink to a directory outside (removed, never followed)',
    plant: async (w) => {
      await fs.mkdir(path.join(w.cache, '.ingot'), { recursive: true });
      await fs.symlink(w.outside, path.join(w.cache, '.ingot', 'tmp'));
    },
    act: 'pull',
    expect: 'ok',
    after: async (w) => assert.ok((await fs.lstat(path.join(w.cache, '.ingot', 'tmp'))).isDirectory()),
  },
  {
    name: '.ingot/state.json is a symlink to a file outside',
    populated: true,
    plant: async (w) => {
      const state = path.join(w.cache, '.ingot', 'state.json');
      await fs.copyFile(state, path.join(w.outside, 'state.json'));
      await fs.rm(state);
      await fs.symlink(path.join(w.outside, 'state.json'), state);
    },
    act: 'pull',
    expect: 'INGOT_CACHE_UNSAFE',
  },
  {
    name: '.ingot/lock is a symlink to a file outside',
    plant: async (w) => {
      await fs.mkdir(path.join(w.cache, '.ingot'), { recursive: true });
      await fs.symlink(path.join(w.outside, 'keep'), path.join(w.cache, '.ingot', 'lock'));
    },
    act: 'pull',
    expect: 'INGOT_CACHE_UNSAFE',
  },
  {
    name: 'state names "../victim" (retention would delete it)',
    populated: true,
    plant: (w) => editState(w, (s) => s.entries.push(extraEntry(`../${path.basename(w.outside)}/keep`))),
    act: 'pull',
    expect: 'INGOT_CACHE_UNSAFE',
  },
  {
    name: 'state names an absolute path',
    populated: true,
    plant: (w) => editState(w, (s) => s.entries.push(extraEntry(path.join(w.outside, 'keep')))),
    act: 'rollback',
    expect: 'INGOT_CACHE_UNSAFE',
  },
  {
    name: 'state names ingot\'s own directory',
    populated: true,
    plant: (w) => editState(w, (s) => s.entries.push(extraEntry('.ingot'))),
    act: 'pull',
    expect: 'INGOT_CACHE_UNSAFE',
  },
  {
    name: 'state names a current link as a file',
    populated: true,
    plant: (w) => editState(w, (s) => s.entries.push(extraEntry('current-os'))),
    act: 'use 1',
    expect: 'INGOT_CACHE_UNSAFE',
  },
  {
    name: 'state names a family that climbs out of the cache',
    populated: true,
    plant: (w) => editState(w, (s) => (s.entries[0]!.family = '../../x')),
    act: 'use 1',
    expect: 'INGOT_CACHE_UNSAFE',
  },
  {
    name: 'a cached file swapped for a same-size symlink outside: cache use refuses it',
    populated: true,
    plant: async (w) => {
      await fs.writeFile(path.join(w.outside, 'same-size'), Buffer.alloc(V1.length, 7));
      await fs.rm(path.join(w.cache, 'a.img'));
      await fs.symlink(path.join(w.outside, 'same-size'), path.join(w.cache, 'a.img'));
    },
    act: 'use 1',
    expect: 'INGOT_CACHE_UNSAFE',
  },
  {
    name: 'a cached file swapped for a same-size symlink outside: pull downloads it again',
    populated: true,
    plant: async (w) => {
      await fs.writeFile(path.join(w.outside, 'same-size'), Buffer.alloc(V2.length, 7));
      await fs.rm(path.join(w.cache, 'b.img'));
      await fs.symlink(path.join(w.outside, 'same-size'), path.join(w.cache, 'b.img'));
    },
    act: 'pull',
    expect: 'ok',
    after: async (w) => {
      assert.ok((await fs.lstat(path.join(w.cache, 'b.img'))).isFile(), 'the symlink was replaced by verified bytes');
      assert.deepEqual(await fs.readFile(path.join(w.cache, 'b.img')), V2);
      assert.deepEqual(await fs.readFile(path.join(w.outside, 'same-size')), Buffer.alloc(V2.length, 7));
    },
  },
  {
    name: 'a sidecar swapped for a symlink: cache use does not trust it',
    populated: true,
    plant: async (w) => {
      const sidecar = path.join(w.cache, 'a.img.sha256');
      await fs.copyFile(sidecar, path.join(w.outside, 'sidecar'));
      await fs.rm(sidecar);
      await fs.symlink(path.join(w.outside, 'sidecar'), sidecar);
    },
    act: 'use 1',
    expect: 'INGOT_CACHE_NOT_FOUND',
  },
];

for (const row of table) {
  test(`host cache: ${row.name} → ${row.expect}`, async (t) => {
    const s = await signedStore(t);
    await publish(s.store, { path: 'os/a.img', bytes: V1, family: 'os', version: '1' });
    await publish(s.store, { path: 'os/b.img', bytes: V2, family: 'os', version: '2' });
    await s.sign();
    const cache = await tempDir(t, 'ingot-hostile-cache-');
    const outside = await tempDir(t, 'ingot-hostile-outside-');
    await fs.writeFile(path.join(outside, 'keep'), 'keep');
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const now = () => new Date((clock += 1000));
    const base = (over: Partial<PullOptions> = {}): PullOptions => ({ store: s.store, cacheDir: cache, publicKey: s.key.publicKey, target: 'os/b.img', log: silentLogger, now, keep: 1, lockTimeoutMs: 2000, ...over });
    const world: World = {
      cache,
      outside,
      base,
      pullBoth: async () => {
        await pull(base({ target: 'os/a.img', keep: 3 }));
        await pull(base({ target: 'os/b.img', keep: 3 }));
      },
    };
    if (row.populated) await world.pullBoth();
    const snapshot = await snapshotDir(outside);
    await row.plant(world);
    const plantedOutside = await snapshotDir(outside);
    const act = () =>
      row.act === 'pull' ? pull(base()) : row.act === 'use 1' ? useCached(cache, '1', { log: silentLogger, lockTimeoutMs: 2000 }) : rollbackCached(cache, { log: silentLogger, lockTimeoutMs: 2000 });
    if (row.expect === 'ok') await act();
    else await assert.rejects(act(), (e: { code?: string; message?: string }) => {
      assert.equal(e.code, row.expect, e.message);
      return true;
    });
    // Nothing outside the cache was written or deleted by ingot (only by the plant itself).
    assert.deepEqual(await snapshotDir(outside), plantedOutside);
    assert.ok(Object.keys(snapshot).every((f) => f in plantedOutside));
    await row.after?.(world);
  });
}

/** Every file below `dir` with its content (symlinks by target), for before/after comparisons. */
async function snapshotDir(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of (await fs.readdir(dir, { recursive: true })) as string[]) {
    const full = path.join(dir, entry);
    const stat = await fs.lstat(full);
    out[entry] = stat.isSymbolicLink() ? `-> ${await fs.readlink(full)}` : stat.isFile() ? (await fs.readFile(full)).toString('base64') : 'dir';
  }
  return out;
}
