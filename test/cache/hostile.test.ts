// Issue 17 (3, 11): a neighbour who can write into the host cache plants symlinks or edits state.json.
// A growable table: each row plants something, runs one cache operation, and says how it must end —
// and nothing outside the cache may ever be written or deleted. Boot pairs (issue 10) keep more state
// (.ingot/boot.json, .ingot/links.json, .ingot/pairs/, the pair pointers): the same rules hold for it.
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { test } from 'node:test';
import { rollbackBootPair, useBootPair } from '../../src/cache/boot-switch.js';
import { pullBootSet } from '../../src/cache/boot-pull.js';
import { pull, type PullOptions } from '../../src/cache/pull.js';
import { rollbackCached, useCached } from '../../src/cache/switch.js';
import { silentLogger } from '../../src/log/logger.js';
import { bytesFor, publish, publishBootPair, signBootManifest, signedStore, tempDir, testBootPair } from './fixtures.js';

const V1 = bytesFor('os-1', 4000);
const V2 = bytesFor('os-2', 4000);
// Boot pairs 1 then 2 of boot set "default" (current → 2), switched through `current` and `current-initramfs`.
const PAIR1 = testBootPair(1);
const PAIR2 = testBootPair(2);
const file = (image: { path: string }) => path.posix.basename(image.path);

interface World {
  cache: string;
  /** A directory outside the cache holding files nobody may touch. */
  outside: string;
  base: (over?: Partial<PullOptions>) => PullOptions;
  /** Pulls version 1 then 2 of family "os" (current → 2). */
  pullBoth: () => Promise<void>;
}

type Act = 'pull' | 'use 1' | 'rollback' | 'boot pull' | 'boot use 1' | 'boot rollback';

interface Row {
  name: string;
  /** Pull both versions before planting (the attack targets an existing cache). */
  populated?: boolean;
  /** Pull boot pairs 1 and 2 before planting. */
  bootPopulated?: boolean;
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

interface BootStateFile {
  pairs: { id: string; kernel: { file: string }; initramfs: { file: string }; links: { kernel: string; initramfs: string } }[];
}
const editBoot = async (w: World, edit: (state: BootStateFile) => void) => {
  const file = path.join(w.cache, '.ingot', 'boot.json');
  const state = JSON.parse(await fs.readFile(file, 'utf8'));
  edit(state);
  await fs.writeFile(file, JSON.stringify(state));
};
/** Moves a cache file outside and leaves a symlink to it in its place. */
const swapForSymlink = async (w: World, inCache: string, outsideName: string) => {
  await fs.copyFile(inCache, path.join(w.outside, outsideName));
  await fs.rm(inCache, { recursive: true });
  await fs.symlink(path.join(w.outside, outsideName), inCache);
};
const currentPairId = async (w: World) => path.posix.basename(await fs.readlink(path.join(w.cache, '.ingot', 'pair-current')));

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
    name: "state names ingot's own directory",
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
  // Boot pairs.
  {
    name: 'boot.json names a kernel file "../victim" (pair retention would delete it)',
    bootPopulated: true,
    plant: (w) => editBoot(w, (b) => (b.pairs[0]!.kernel.file = `../${path.basename(w.outside)}/keep`)),
    act: 'boot pull',
    expect: 'INGOT_CACHE_UNSAFE',
  },
  {
    name: 'boot.json names an initramfs file by absolute path',
    bootPopulated: true,
    plant: (w) => editBoot(w, (b) => (b.pairs[0]!.initramfs.file = path.join(w.outside, 'keep'))),
    act: 'boot rollback',
    expect: 'INGOT_CACHE_UNSAFE',
  },
  {
    name: 'boot.json names a pair id that climbs out of .ingot/pairs',
    bootPopulated: true,
    plant: (w) => editBoot(w, (b) => (b.pairs[0]!.id = `../../../${path.basename(w.outside)}`)),
    act: 'boot pull',
    expect: 'INGOT_CACHE_UNSAFE',
  },
  {
    name: 'boot.json names a link outside the cache',
    bootPopulated: true,
    plant: (w) => editBoot(w, (b) => (b.pairs[1]!.links.initramfs = path.join(w.outside, 'keep'))),
    act: 'boot use 1',
    expect: 'INGOT_CACHE_UNSAFE',
  },
  {
    name: '.ingot/boot.json is a symlink to a file outside',
    bootPopulated: true,
    plant: (w) => swapForSymlink(w, path.join(w.cache, '.ingot', 'boot.json'), 'boot.json'),
    act: 'boot pull',
    expect: 'INGOT_CACHE_UNSAFE',
  },
  {
    name: '.ingot/links.json is a symlink to a file outside',
    populated: true,
    plant: async (w) => {
      await fs.writeFile(path.join(w.outside, 'links.json'), JSON.stringify({ schemaVersion: 1, families: { os: 'current' } }));
      await fs.symlink(path.join(w.outside, 'links.json'), path.join(w.cache, '.ingot', 'links.json'));
    },
    act: 'pull',
    expect: 'INGOT_CACHE_UNSAFE',
  },
  {
    name: 'links.json gives a family a link that climbs out of the cache',
    populated: true,
    plant: (w) =>
      fs.writeFile(path.join(w.cache, '.ingot', 'links.json'), JSON.stringify({ schemaVersion: 1, families: { os: `../${path.basename(w.outside)}/keep` } })),
    act: 'rollback',
    expect: 'INGOT_CACHE_UNSAFE',
  },
  {
    name: 'links.json names a family that climbs out of the cache',
    populated: true,
    plant: (w) => fs.writeFile(path.join(w.cache, '.ingot', 'links.json'), JSON.stringify({ schemaVersion: 1, families: { '../../x': 'current-x' } })),
    act: 'pull',
    expect: 'INGOT_CACHE_UNSAFE',
  },
  {
    name: '.ingot/pairs is a symlink to a directory outside (pair retention would delete there)',
    bootPopulated: true,
    plant: async (w) => {
      const pairs = path.join(w.cache, '.ingot', 'pairs');
      await fs.cp(pairs, path.join(w.outside, 'pairs'), { recursive: true, verbatimSymlinks: true });
      await fs.rm(pairs, { recursive: true });
      await fs.symlink(path.join(w.outside, 'pairs'), pairs);
    },
    act: 'boot pull',
    expect: 'INGOT_CACHE_UNSAFE',
  },
  {
    name: '.ingot/pairs is a symlink to a directory outside, in a cache with no pairs yet',
    populated: true,
    plant: async (w) => {
      await fs.mkdir(path.join(w.outside, 'pairs'));
      await fs.symlink(path.join(w.outside, 'pairs'), path.join(w.cache, '.ingot', 'pairs'));
    },
    act: 'boot pull',
    expect: 'INGOT_CACHE_UNSAFE',
  },
  {
    name: 'the pair pointer .ingot/pair-current points outside the cache',
    bootPopulated: true,
    plant: async (w) => {
      const id = await currentPairId(w);
      await fs.cp(path.join(w.cache, '.ingot', 'pairs', id), path.join(w.outside, id), { recursive: true, verbatimSymlinks: true });
      await fs.rm(path.join(w.cache, '.ingot', 'pair-current'));
      await fs.symlink(path.join(w.outside, id), path.join(w.cache, '.ingot', 'pair-current'));
    },
    act: 'boot rollback',
    expect: 'INGOT_CACHE_UNSAFE',
  },
  {
    name: 'the pair pointer is a real directory',
    bootPopulated: true,
    plant: async (w) => {
      await fs.rm(path.join(w.cache, '.ingot', 'pair-current'));
      await fs.mkdir(path.join(w.cache, '.ingot', 'pair-current'));
    },
    act: 'boot pull',
    expect: 'INGOT_CACHE_UNSAFE',
  },
  {
    name: 'a pair directory swapped for a symlink outside: boot pull puts its own back',
    bootPopulated: true,
    plant: async (w) => {
      const id = await currentPairId(w);
      const dir = path.join(w.cache, '.ingot', 'pairs', id);
      await fs.cp(dir, path.join(w.outside, id), { recursive: true, verbatimSymlinks: true });
      await fs.rm(dir, { recursive: true });
      await fs.symlink(path.join(w.outside, id), dir);
    },
    act: 'boot pull',
    expect: 'ok',
    after: async (w) => {
      const dir = path.join(w.cache, '.ingot', 'pairs', await currentPairId(w));
      assert.ok((await fs.lstat(dir)).isDirectory(), 'a real directory again');
      assert.equal(await fs.readlink(path.join(dir, 'kernel')), `../../../${file(PAIR2.kernel)}`);
    },
  },
  {
    name: 'a cached kernel swapped for a same-size symlink outside: boot pull downloads it again',
    bootPopulated: true,
    plant: async (w) => {
      await fs.writeFile(path.join(w.outside, 'same-size'), Buffer.alloc(PAIR2.kernel.bytes.length, 7));
      await fs.rm(path.join(w.cache, file(PAIR2.kernel)));
      await fs.symlink(path.join(w.outside, 'same-size'), path.join(w.cache, file(PAIR2.kernel)));
    },
    act: 'boot pull',
    expect: 'ok',
    after: async (w) => {
      const kernel = path.join(w.cache, file(PAIR2.kernel));
      assert.ok((await fs.lstat(kernel)).isFile(), 'the symlink was replaced by verified bytes');
      assert.deepEqual(await fs.readFile(kernel), PAIR2.kernel.bytes);
      assert.deepEqual(await fs.readFile(path.join(w.outside, 'same-size')), Buffer.alloc(PAIR2.kernel.bytes.length, 7));
    },
  },
  {
    name: 'a cached initramfs swapped for a same-size symlink outside: cache rollback --boot-set refuses it',
    bootPopulated: true,
    plant: async (w) => {
      await fs.writeFile(path.join(w.outside, 'same-size'), Buffer.alloc(PAIR1.initramfs.bytes.length, 7));
      await fs.rm(path.join(w.cache, file(PAIR1.initramfs)));
      await fs.symlink(path.join(w.outside, 'same-size'), path.join(w.cache, file(PAIR1.initramfs)));
    },
    act: 'boot rollback',
    expect: 'INGOT_CACHE_UNSAFE',
    after: async (w) => assert.equal(await fs.readlink(path.join(w.cache, 'current')), file(PAIR2.kernel), 'nothing switched'),
  },
  {
    name: "a cached kernel's sidecar swapped for a symlink: cache use --boot-set does not trust it",
    bootPopulated: true,
    plant: (w) => swapForSymlink(w, path.join(w.cache, `${file(PAIR1.kernel)}.sha256`), 'sidecar'),
    act: 'boot use 1',
    expect: 'INGOT_CACHE_NOT_FOUND',
  },
];

for (const row of table) {
  test(`host cache: ${row.name} → ${row.expect}`, async (t) => {
    const s = await signedStore(t);
    await publish(s.store, { path: 'os/a.img', bytes: V1, family: 'os', version: '1' });
    await publish(s.store, { path: 'os/b.img', bytes: V2, family: 'os', version: '2' });
    await publishBootPair(s.store, PAIR1);
    await publishBootPair(s.store, PAIR2);
    await s.sign();
    const cache = await tempDir(t, 'ingot-hostile-cache-');
    const outside = await tempDir(t, 'ingot-hostile-outside-');
    await fs.writeFile(path.join(outside, 'keep'), 'keep');
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const now = () => new Date((clock += 1000));
    const base = (over: Partial<PullOptions> = {}): PullOptions => ({
      store: s.store,
      cacheDir: cache,
      publicKey: s.key.publicKey,
      target: 'os/b.img',
      log: silentLogger,
      now,
      keep: 1,
      lockTimeoutMs: 2000,
      ...over,
    });
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
    const bootBase = { store: s.store, cacheDir: cache, publicKey: s.key.publicKey, set: 'default', log: silentLogger, now, lockTimeoutMs: 2000 };
    if (row.bootPopulated) {
      await signBootManifest(s.store, s.key, 'default', PAIR1, new Date(clock));
      await pullBootSet(bootBase);
      await signBootManifest(s.store, s.key, 'default', PAIR2, new Date((clock += 60_000)));
      await pullBootSet(bootBase);
    } else {
      await signBootManifest(s.store, s.key, 'default', PAIR2, new Date(clock));
    }
    const snapshot = await snapshotDir(outside);
    await row.plant(world);
    const plantedOutside = await snapshotDir(outside);
    const switching = { log: silentLogger, lockTimeoutMs: 2000 };
    const acts: Record<Act, () => Promise<unknown>> = {
      pull: () => pull(base()),
      'use 1': () => useCached(cache, '1', switching),
      rollback: () => rollbackCached(cache, switching),
      'boot pull': () => pullBootSet(bootBase),
      'boot use 1': () => useBootPair(cache, `${PAIR1.kernel.version}-${PAIR1.kernel.buildId}`, switching),
      'boot rollback': () => rollbackBootPair(cache, switching),
    };
    const act = acts[row.act];
    if (row.expect === 'ok') await act();
    else
      await assert.rejects(act(), (e: { code?: string; message?: string }) => {
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
