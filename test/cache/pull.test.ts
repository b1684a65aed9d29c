// Verified pulls into a host cache: layout, no-op re-pulls, every refusal with its own code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { run } from '../../src/exec/run.js';
import { silentLogger } from '../../src/log/logger.js';
import { pull, type PullOptions } from '../../src/cache/pull.js';
import { loadState } from '../../src/cache/state.js';
import { generateSecretKey } from '../../src/trust/keys.js';
import { bytesFor, countingStore, publish, signedStore, tempDir } from './fixtures.js';
import { needTool } from '../helpers/tools.js';

const code = (c: string) => (e: unknown) => {
  assert.equal((e as { code?: string }).code, c, (e as Error).message);
  return true;
};

async function setup(t: Parameters<typeof signedStore>[0]) {
  const s = await signedStore(t);
  const cache = await tempDir(t);
  const base = (over: Partial<PullOptions> = {}): PullOptions => ({
    store: s.store,
    cacheDir: cache,
    publicKey: s.key.publicKey,
    target: '',
    log: silentLogger,
    ...over,
  });
  return { ...s, cache, base };
}

test('pull writes the bytes, a sidecar sha256sum -c accepts, and current; a second pull reads no bytes', async (t) => {
  const { store, dir, cache, base, sign } = await setup(t);
  const bytes = bytesFor('kernel', 300_000);
  await publish(store, { path: 'kernels/vmlinuz-plfm-6.1.50-20251217a', bytes });
  await sign();
  const counting = countingStore(store.backend);
  const first = await pull(base({ store: counting.store, target: 'kernels/vmlinuz-plfm-6.1.50-20251217a' }));
  assert.equal(first.status, 'pulled');
  assert.equal(counting.reads(), 1);
  assert.deepEqual(await fs.readFile(path.join(cache, 'vmlinuz-plfm-6.1.50-20251217a')), bytes);
  assert.equal(await fs.readlink(path.join(cache, 'current')), 'vmlinuz-plfm-6.1.50-20251217a');
  if (needTool(t, 'sha256sum', 'coreutils')) {
    const check = await run('sha256sum', ['-c', 'vmlinuz-plfm-6.1.50-20251217a.sha256'], { cwd: cache });
    assert.match(check.stdout, /vmlinuz-plfm-6\.1\.50-20251217a: OK/);
  }
  const stateBefore = await fs.readFile(path.join(cache, '.ingot/state.json'), 'utf8');
  const second = await pull(base({ store: counting.store, target: 'vmlinuz-plfm-6.1.50-20251217a' })); // by name this time
  assert.equal(second.status, 'cached');
  assert.equal(counting.reads(), 1, 'no image bytes read for a cached, matching pull');
  assert.equal(await fs.readFile(path.join(cache, '.ingot/state.json'), 'utf8'), stateBefore, 'nothing rewritten');
  assert.ok(dir);
});

test('tampered bytes in the store are refused and never reach the cache', async (t) => {
  const { store, dir, cache, base, sign } = await setup(t);
  await publish(store, { path: 'a.img', bytes: bytesFor('a1', 50_000) });
  await sign();
  const file = path.join(dir, 'images/a.img');
  const bytes = await fs.readFile(file);
  bytes[123] = bytes[123]! ^ 0x40;
  await fs.writeFile(file, bytes);
  await assert.rejects(pull(base({ target: 'a.img' })), code('INGOT_DIGEST_MISMATCH'));
  await assert.rejects(fs.stat(path.join(cache, 'a.img')), { code: 'ENOENT' });
  await assert.rejects(fs.lstat(path.join(cache, 'current')), { code: 'ENOENT' });
  assert.deepEqual(await fs.readdir(path.join(cache, '.ingot/tmp')), []);
  // Extra bytes: refused as a size mismatch as soon as they exceed the index.
  await fs.writeFile(file, Buffer.concat([await fs.readFile(file), Buffer.from('more')]));
  await assert.rejects(pull(base({ target: 'a.img' })), code('INGOT_SIZE_MISMATCH'));
});

test('a tampered index, a missing signature and a signature by the wrong key are refused', async (t) => {
  const { store, dir, cache, base, sign } = await setup(t);
  await publish(store, { path: 'a.img', bytes: bytesFor('a', 1000) });
  await sign();
  const indexFile = path.join(dir, 'index.json');
  const original = await fs.readFile(indexFile, 'utf8');
  await fs.writeFile(indexFile, original.replace('"size": 1000', '"size": 999'));
  await assert.rejects(pull(base({ target: 'a.img' })), code('INGOT_SIGNATURE_INVALID'));
  await fs.writeFile(indexFile, original);
  await assert.rejects(pull(base({ target: 'a.img', publicKey: generateSecretKey().publicKey })), code('INGOT_SIGNATURE_KEY_MISMATCH'));
  await fs.rm(`${indexFile}.minisig`);
  await assert.rejects(pull(base({ target: 'a.img' })), code('INGOT_SIGNATURE_MISSING'));
  await assert.rejects(fs.stat(path.join(cache, 'a.img')), { code: 'ENOENT' });
});

test('a replayed older index is refused (INGOT_INDEX_ROLLBACK) unless --allow-rollback', async (t) => {
  const { store, dir, base, sign } = await setup(t);
  await publish(store, { path: 'a.img', bytes: bytesFor('a', 1000) });
  await sign();
  const oldIndex = await fs.readFile(path.join(dir, 'index.json'));
  const oldSig = await fs.readFile(path.join(dir, 'index.json.minisig'));
  await publish(store, { path: 'b.img', bytes: bytesFor('b', 1000) });
  assert.equal(await sign(), 2);
  await pull(base({ target: 'b.img' }));
  await fs.writeFile(path.join(dir, 'index.json'), oldIndex);
  await fs.writeFile(path.join(dir, 'index.json.minisig'), oldSig);
  await assert.rejects(pull(base({ target: 'a.img' })), code('INGOT_INDEX_ROLLBACK'));
  const accepted = await pull(base({ target: 'a.img', allowRollback: true }));
  assert.equal(accepted.indexVersion, 1);
  // The floor did not move down: the replay is still refused without the flag.
  await assert.rejects(pull(base({ target: 'a.img' })), code('INGOT_INDEX_ROLLBACK'));
});

test('an expired index is refused (INGOT_INDEX_EXPIRED) unless --allow-expired', async (t) => {
  const { store, base, sign } = await setup(t);
  await publish(store, { path: 'a.img', bytes: bytesFor('a', 1000) });
  await sign({ now: new Date(Date.now() - 10 * 86_400_000), expiresInMs: 86_400_000 });
  await assert.rejects(pull(base({ target: 'a.img' })), code('INGOT_INDEX_EXPIRED'));
  assert.equal((await pull(base({ target: 'a.img', allowExpired: true }))).status, 'pulled');
});

test('mix-and-match: the index of one publish with the bytes of another is refused', async (t) => {
  const { store, dir, base, sign } = await setup(t);
  await publish(store, { path: 'os.img', bytes: bytesFor('v1', 20_000) });
  await sign();
  const index1 = await fs.readFile(path.join(dir, 'index.json'));
  const sig1 = await fs.readFile(path.join(dir, 'index.json.minisig'));
  await publish(store, { path: 'os.img', bytes: bytesFor('v2', 20_000) }); // same size, other bytes
  await sign();
  await fs.writeFile(path.join(dir, 'index.json'), index1);
  await fs.writeFile(path.join(dir, 'index.json.minisig'), sig1);
  await assert.rejects(pull(base({ target: 'os.img' })), code('INGOT_DIGEST_MISMATCH'));
});

test('retention keeps the newest N per family and never what current points at; cache use and rollback switch', async (t) => {
  const { store, cache, base, sign } = await setup(t);
  const { useCached, rollbackCached, listCache } = await import('../../src/cache/switch.js');
  const paths: string[] = [];
  for (let v = 1; v <= 5; v++) {
    const p = `initramfs/initramfs-plfm-guestinit-1.0.${v}.img`;
    paths.push(p);
    await publish(store, { path: p, bytes: bytesFor(`init${v}`, 5000 + v), family: 'initramfs', version: `1.0.${v}` });
  }
  await sign();
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const now = () => new Date((clock += 1000));
  for (const p of paths.slice(0, 4)) await pull(base({ target: p, now, keep: 3 }));
  const names = async () => (await fs.readdir(cache)).filter((f) => f.endsWith('.img')).sort();
  assert.deepEqual(await names(), ['initramfs-plfm-guestinit-1.0.2.img', 'initramfs-plfm-guestinit-1.0.3.img', 'initramfs-plfm-guestinit-1.0.4.img']);
  assert.equal(await fs.readlink(path.join(cache, 'current-initramfs')), 'initramfs-plfm-guestinit-1.0.4.img');
  await assert.rejects(fs.stat(path.join(cache, 'initramfs-plfm-guestinit-1.0.1.img.sha256')), { code: 'ENOENT' });

  // Roll back twice by pull time, then forward with use.
  assert.equal((await rollbackCached(cache, { log: silentLogger })).version, '1.0.3');
  assert.equal((await rollbackCached(cache, { log: silentLogger, family: 'initramfs' })).version, '1.0.2');
  await assert.rejects(rollbackCached(cache, { log: silentLogger }), code('INGOT_CACHE_NOT_FOUND'));
  // 1.0.5 arrives while current is rolled back to 1.0.2: the link moves to 1.0.5, the oldest go.
  const p5 = await pull(base({ target: paths[4]!, now, keep: 2 }));
  assert.equal(p5.status, 'pulled');
  assert.deepEqual(await names(), ['initramfs-plfm-guestinit-1.0.4.img', 'initramfs-plfm-guestinit-1.0.5.img']);
  assert.equal((await useCached(cache, '1.0.4', { log: silentLogger })).file, 'initramfs-plfm-guestinit-1.0.4.img');
  await assert.rejects(useCached(cache, '1.0.1', { log: silentLogger }), code('INGOT_CACHE_NOT_FOUND'));
  const listing = await listCache(cache);
  assert.equal(listing[0]!.current, 'initramfs-plfm-guestinit-1.0.4.img');
  assert.deepEqual(
    listing[0]!.entries.map((e) => [e.version, e.current]),
    [
      ['1.0.5', false],
      ['1.0.4', true],
    ],
  );
  // The host clock went backwards: the new current is the "oldest" pull, and retention must still spare it.
  const past = () => new Date('2025-01-01T00:00:00Z');
  await pull(base({ target: paths[2]!, now: past, keep: 1 }));
  assert.equal(await fs.readlink(path.join(cache, 'current-initramfs')), 'initramfs-plfm-guestinit-1.0.3.img');
  assert.deepEqual(await names(), ['initramfs-plfm-guestinit-1.0.3.img', 'initramfs-plfm-guestinit-1.0.5.img']);
});

test('two concurrent pulls into one cache do not interleave: one download, both succeed', async (t) => {
  const { store, cache, base, sign } = await setup(t);
  await publish(store, { path: 'big.img', bytes: bytesFor('big', 4 << 20) });
  await sign();
  const counting = countingStore(store.backend);
  const results = await Promise.all([pull(base({ store: counting.store, target: 'big.img' })), pull(base({ store: counting.store, target: 'big.img' }))]);
  assert.deepEqual(results.map((r) => r.status).sort(), ['cached', 'pulled']);
  assert.equal(counting.reads(), 1);
  assert.equal((await fs.stat(path.join(cache, 'big.img'))).size, 4 << 20);
  await assert.rejects(fs.stat(path.join(cache, '.ingot/lock')), { code: 'ENOENT' });
});

test('compatibility facts are enforced when the host passes its own', async (t) => {
  const { store, base, sign } = await setup(t);
  await publish(store, {
    path: 'g/init-1.img',
    bytes: bytesFor('g1', 100),
    family: 'guestinit',
    version: '1.0.0',
    compatibility: { protocols: [1], minAgentVersion: '1.0.0' },
  });
  await publish(store, {
    path: 'g/init-2.img',
    bytes: bytesFor('g2', 100),
    family: 'guestinit',
    version: '2.0.0',
    compatibility: { protocols: [2], minAgentVersion: '2.1.0' },
  });
  await sign();
  await assert.rejects(pull(base({ target: 'g/init-2.img', host: { protocols: [1] } })), code('INGOT_INCOMPATIBLE'));
  await assert.rejects(pull(base({ target: 'g/init-2.img', host: { agentVersion: '2.0.9' } })), code('INGOT_INCOMPATIBLE'));
  // Pulling by family picks the newest compatible version.
  const picked = await pull(base({ target: 'guestinit', host: { protocols: [1, 2], agentVersion: '2.0.0' } }));
  assert.equal(picked.version, '1.0.0');
  assert.equal((await pull(base({ target: 'guestinit', host: { agentVersion: '2.10.0' } }))).version, '2.0.0');
  // No facts: no enforcement.
  assert.equal((await pull(base({ target: 'g/init-2.img' }))).status, 'cached');
  const state = await loadState(base().cacheDir);
  assert.deepEqual(state.entries.map((e) => e.version).sort(), ['1.0.0', '2.0.0']);
});

test('a live holder of the cache lock makes a pull wait, then fail with INGOT_CACHE_LOCKED', async (t) => {
  const { store, cache, base, sign } = await setup(t);
  const { lockCache } = await import('../../src/cache/lock.js');
  await publish(store, { path: 'a.img', bytes: bytesFor('a', 100) });
  await sign();
  const held = await lockCache(cache, { owner: 'test', timeoutMs: 0 });
  const started = Date.now();
  await assert.rejects(pull(base({ target: 'a.img', lockTimeoutMs: 300 })), code('INGOT_CACHE_LOCKED'));
  assert.ok(Date.now() - started >= 300, 'waited for the holder');
  const waiting = pull(base({ target: 'a.img', lockTimeoutMs: 5000 }));
  setTimeout(() => void held.release(), 100);
  assert.equal((await waiting).status, 'pulled');
});
