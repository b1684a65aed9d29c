// A pull killed with SIGKILL at any point leaves `current` and every cached file intact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pull } from '../../src/cache/pull.js';
import { loadState } from '../../src/cache/state.js';
import { silentLogger } from '../../src/log/logger.js';
import { publicKeyLine } from '../../src/trust/minisign-format.js';
import { bytesFor, publish, signedStore, tempDir } from './fixtures.js';

const child = fileURLToPath(new URL('./fixtures/pull-child.ts', import.meta.url));

/** Starts a pull in a child process; resolves `started` when it prints `line`, and `exited` when it ends. */
function startChild(args: string[], line: string) {
  const proc = spawn(process.execPath, ['--import', 'tsx', child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const started = new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(line)) resolve();
    });
    proc.on('exit', () => reject(new Error(`child exited before "${line}": ${out}${err}`)));
  });
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  started.catch(() => undefined);
  return { proc, started, exited, output: () => out };
}

/** Every invariant a killed pull must leave: current resolves to whole, matching bytes; state entries exist. */
async function assertIntact(cache: string, link: string, expectFile: string | undefined): Promise<void> {
  const state = await loadState(cache);
  for (const entry of state.entries) {
    const bytes = await fs.readFile(path.join(cache, entry.file));
    assert.equal(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, entry.sha256, `${entry.file} intact`);
    assert.equal(await fs.readFile(path.join(cache, `${entry.file}.sha256`), 'utf8'), `${entry.sha256.slice(7)}  ${entry.file}\n`);
  }
  const target = await fs.readlink(path.join(cache, link));
  if (expectFile) assert.equal(target, expectFile);
  assert.ok(
    state.entries.some((e) => e.file === target),
    `current (${target}) is a recorded, whole file`,
  );
}

test('SIGKILL mid-download: current and the cached version stay intact; the next pull recovers', async (t) => {
  const { store, dir, key, sign } = await signedStore(t);
  const cache = await tempDir(t);
  await publish(store, { path: 'os/os-1.img', bytes: bytesFor('os1', 1 << 20), family: 'os', version: '1' });
  await publish(store, { path: 'os/os-2.img', bytes: bytesFor('os2', 8 << 20), family: 'os', version: '2' });
  await sign();
  await pull({ store, cacheDir: cache, publicKey: key.publicKey, target: 'os/os-1.img', log: silentLogger });

  const run = startChild([dir, cache, publicKeyLine(key.publicKey), 'os/os-2.img', '40'], 'downloading');
  await run.started;
  run.proc.kill('SIGKILL');
  assert.equal((await run.exited).signal, 'SIGKILL');

  await assertIntact(cache, 'current-os', 'os-1.img');
  await assert.rejects(fs.stat(path.join(cache, 'os-2.img')), { code: 'ENOENT' });
  await fs.stat(path.join(cache, '.ingot/lock')); // left behind by the dead process…
  const next = await pull({ store, cacheDir: cache, publicKey: key.publicKey, target: 'os/os-2.img', log: silentLogger, lockTimeoutMs: 2000 });
  assert.equal(next.status, 'pulled'); // …and taken over at once
  assert.deepEqual(await fs.readdir(path.join(cache, '.ingot/tmp')), [], 'partial download cleared');
  await assertIntact(cache, 'current-os', 'os-2.img');
});

test('SIGKILL at arbitrary moments of a pull never breaks the cache', async (t) => {
  const { store, dir, key, sign } = await signedStore(t);
  const cache = await tempDir(t);
  for (let v = 1; v <= 4; v++) await publish(store, { path: `k/k-${v}.img`, bytes: bytesFor(`k${v}`, 2 << 20), family: 'k', version: String(v) });
  await sign();
  await pull({ store, cacheDir: cache, publicKey: key.publicKey, target: 'k/k-1.img', log: silentLogger });
  // Kill after a varying delay once the child is downloading: before, during and after the rename/state/link steps.
  for (const [v, delayMs] of [
    [2, 0],
    [3, 15],
    [4, 60],
  ] as const) {
    const run = startChild([dir, cache, publicKeyLine(key.publicKey), `k/k-${v}.img`, '2'], 'downloading');
    await run.started;
    await new Promise((r) => setTimeout(r, delayMs));
    run.proc.kill('SIGKILL');
    await run.exited;
    await assertIntact(cache, 'current-k', undefined);
  }
});

test('two pulls in separate processes into one cache: one downloads, the other waits and finds it cached', async (t) => {
  const { store, dir, key, sign } = await signedStore(t);
  const cache = await tempDir(t);
  await publish(store, { path: 'os/shared.img', bytes: bytesFor('shared', 2 << 20), family: 'os', version: '1' });
  await sign();
  const a = startChild([dir, cache, publicKeyLine(key.publicKey), 'os/shared.img', '5'], 'done');
  const b = startChild([dir, cache, publicKeyLine(key.publicKey), 'os/shared.img', '5'], 'done');
  const outputs: string[] = [];
  for (const c of [a, b]) {
    assert.equal((await c.exited).code, 0);
    outputs.push(/done (\w+)/.exec(c.output())?.[1] ?? c.output());
  }
  assert.deepEqual(outputs.sort(), ['cached', 'pulled']);
  await assertIntact(cache, 'current-os', 'shared.img');
});
