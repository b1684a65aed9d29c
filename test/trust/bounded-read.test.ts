// Issue 17 (5): what is read of a signed object before its signature is checked is bounded.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../src/log/logger.js';
import { FsBackend } from '../../src/store/fs-backend.js';
import { READ_LIMITS } from '../../src/store/layout.js';
import { writeKeyPair } from '../../src/trust/key-files.js';
import { signStoreIndex } from '../../src/trust/sign-store.js';
import { BIN_PATH } from '../helpers/fixtures.js';
import { bytesFor, publish, signedStore, tempDir } from '../cache/fixtures.js';

const code = (c: string) => (e: unknown) => {
  assert.equal((e as { code?: string }).code, c, (e as Error).message);
  return true;
};

/** Runs the built CLI and reports its exit code, output and peak RSS (MiB), measured inside the child. */
async function cliWithPeak(args: string[], cwd: string): Promise<{ code: number | null; out: string; peakMiB: number }> {
  const preload = path.join(cwd, 'peak-rss.mjs');
  await fs.writeFile(preload, "process.on('exit', () => process.stderr.write(`\\nPEAK_RSS_KIB ${process.resourceUsage().maxRSS}\\n`));\n");
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', preload, BIN_PATH, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (exit) => {
      const kib = Number(/PEAK_RSS_KIB (\d+)/.exec(out)?.[1] ?? NaN);
      resolve({ code: exit, out, peakMiB: kib / 1024 });
    });
  });
}

test('regression: a 1.5 GiB index.json is refused unread by `ingot pull` (INGOT_OBJECT_TOO_LARGE, memory stays small)', async (t) => {
  const s = await signedStore(t);
  await publish(s.store, { path: 'a.img', bytes: bytesFor('a', 1000) });
  await s.sign();
  const keys = await tempDir(t, 'ingot-keys-');
  const { publicFile } = await writeKeyPair(keys, s.key);
  // Sparse: costs no disk, but a reader that reads it whole holds 1.5 GiB.
  await fs.truncate(path.join(s.dir, 'index.json'), 1.5 * 2 ** 30);
  const cache = await tempDir(t, 'ingot-cache-');
  const r = await cliWithPeak(['pull', 'a.img', '--store', s.dir, '--to', cache, '--public-key', publicFile], keys);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /INGOT_OBJECT_TOO_LARGE/);
  assert.ok(r.peakMiB < 400, `peak RSS ${r.peakMiB.toFixed(0)} MiB`);
  t.diagnostic(`peak RSS ${r.peakMiB.toFixed(0)} MiB`);
});

const oversized: { name: string; key: string; size: number; act: 'pull' | 'pull-channel' | 'pull-boot-set' }[] = [
  { name: 'a huge index.json.minisig', key: 'index.json.minisig', size: 200 * 2 ** 20, act: 'pull' },
  { name: 'an index one byte over the limit', key: 'index.json', size: READ_LIMITS.index + 1, act: 'pull' },
  { name: 'a huge channel file', key: 'channels/os.json', size: 500 * 2 ** 20, act: 'pull-channel' },
  // Boot-set pulls (issue 10) read boot manifests the same way.
  { name: 'a boot manifest one byte over 1 MiB', key: 'boot/default.json', size: READ_LIMITS.bootManifest + 1, act: 'pull-boot-set' },
  { name: 'a huge boot manifest signature', key: 'boot/default.json.minisig', size: 200 * 2 ** 20, act: 'pull-boot-set' },
];

for (const row of oversized) {
  test(`${row.name} is refused with INGOT_OBJECT_TOO_LARGE before anything is parsed`, async (t) => {
    const s = await signedStore(t);
    await publish(s.store, { path: 'a.img', bytes: bytesFor('a', 1000), family: 'os', version: '1' });
    await s.sign();
    await fs.mkdir(path.join(s.dir, 'boot'), { recursive: true });
    await fs.writeFile(path.join(s.dir, 'boot', 'default.json'), '{}');
    await fs.mkdir(path.dirname(path.join(s.dir, row.key)), { recursive: true });
    await fs.writeFile(path.join(s.dir, row.key), '');
    await fs.truncate(path.join(s.dir, row.key), row.size);
    const cache = await tempDir(t, 'ingot-cache-');
    const { pull } = await import('../../src/cache/pull.js');
    const { pullBootSet } = await import('../../src/cache/boot-pull.js');
    const options = { store: s.store, cacheDir: cache, publicKey: s.key.publicKey, log: silentLogger };
    const act =
      row.act === 'pull'
        ? pull({ ...options, target: 'a.img' })
        : row.act === 'pull-channel'
          ? pull({ ...options, target: 'os', channel: 'stable' })
          : pullBootSet({ ...options, set: 'default' });
    await assert.rejects(act, code('INGOT_OBJECT_TOO_LARGE'));
  });
}

test('the directory store reads exactly up to the limit, and not one byte more', async (t) => {
  const dir = await tempDir(t, 'ingot-get-');
  const backend = new FsBackend(dir);
  await fs.writeFile(path.join(dir, 'x.json'), Buffer.alloc(1000, 1));
  assert.equal((await backend.get('x.json', undefined, { maxBytes: 1000 }))?.length, 1000);
  await assert.rejects(backend.get('x.json', undefined, { maxBytes: 999 }), code('INGOT_OBJECT_TOO_LARGE'));
  assert.equal(await backend.get('absent.json', undefined, { maxBytes: 10 }), undefined);
});

test('an oversized metadata document is left out of the index with a warning, never read whole', async (t) => {
  const s = await signedStore(t);
  await publish(s.store, { path: 'good.img', bytes: bytesFor('g', 100) });
  await publish(s.store, { path: 'huge.img', bytes: bytesFor('h', 100) });
  await fs.truncate(path.join(s.dir, 'metadata', 'huge.img.json'), READ_LIMITS.metadata + 1);
  const warnings: string[] = [];
  const log = { ...silentLogger, warn: (m: string) => void warnings.push(m), child: () => log };
  await signStoreIndex(s.store, s.key, { log });
  const index = JSON.parse(await fs.readFile(path.join(s.dir, 'index.json'), 'utf8'));
  assert.deepEqual(
    index.images.map((e: { path: string }) => e.path),
    ['good.img'],
  );
  assert.match(warnings.join('\n'), /too large/);
});
