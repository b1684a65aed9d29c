// The host side of fleet operations: record-boot, pull outcomes and `ingot metrics`, checked with promtool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { run } from '../../src/exec/run.js';
import { HANDSHAKE_BUCKETS, loadFleetState, RING_SIZE } from '../../src/cache/fleet-state.js';
import { bytesFor, tempDir } from '../cache/fixtures.js';
import { fleetStore, ingot } from './helpers.js';
import { needTool } from '../helpers/tools.js';

test('record-boot counts outcomes per version, metrics writes a textfile promtool accepts; pulls and verification failures are counted', async (t) => {
  const { root, storeDir, pub } = await fleetStore(t);
  const _cache = path.join(root, 'cache');
  const pulled = await ingot(root, 'pull', 'kernel/vmlinuz-1.0.0', '--store', storeDir, '--to', 'cache', '--public-key', pub);
  assert.equal(pulled.code, 0, pulled.stderr);

  // Default version: the current one.
  const ok = await ingot(root, 'cache', 'record-boot', '--cache', 'cache', '--family', 'kernel', '--result', 'ok', '--handshake-ms', '42', '--json');
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).version, '1.0.0');
  for (const [result, ms] of [
    ['ok', '7'],
    ['fail', undefined],
    ['timeout', '30000'],
    ['ok', '120'],
  ] as const) {
    const r = await ingot(root, 'cache', 'record-boot', '--cache', 'cache', '--family', 'kernel', '--result', result, ...(ms ? ['--handshake-ms', ms] : []));
    assert.equal(r.code, 0, r.stderr);
  }
  assert.equal((await ingot(root, 'cache', 'record-boot', '--cache', 'cache', '--family', 'kernel', '--version', '2.0.0', '--result', 'fail')).code, 0);

  // Bad input: clear usage errors, nothing recorded.
  const bad = [
    ['--family', 'kernel', '--boot-set', 'default', '--result', 'ok'],
    ['--family', 'kernel', '--result', 'maybe'],
    ['--family', 'kernel', '--result', 'ok', '--handshake-ms', '-3'],
    ['--family', '../x', '--result', 'ok'],
    ['--family', 'other', '--result', 'ok'],
  ];
  for (const args of bad) {
    const r = await ingot(root, 'cache', 'record-boot', '--cache', 'cache', ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
  }
  const missing = await ingot(root, 'cache', 'record-boot', '--cache', 'nowhere', '--family', 'kernel', '--result', 'ok');
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no host cache at/);

  // A verification failure: the image's bytes are tampered with in the store.
  await fs.writeFile(path.join(storeDir, 'images/kernel/vmlinuz-2.0.0'), bytesFor('evil', 4000));
  const refused = await ingot(root, 'pull', 'kernel/vmlinuz-2.0.0', '--store', storeDir, '--to', 'cache', '--public-key', pub);
  assert.equal(refused.code, 1);

  const textfile = path.join(root, 'textfiles', 'ingot.prom');
  await fs.mkdir(path.dirname(textfile));
  const written = await ingot(root, 'metrics', '--cache', 'cache', '--textfile', textfile);
  assert.equal(written.code, 0, written.stderr);
  assert.deepEqual(await fs.readdir(path.dirname(textfile)), ['ingot.prom'], 'no temporary file left behind');
  const text = await fs.readFile(textfile, 'utf8');
  const stdout = await ingot(root, 'metrics', '--cache', 'cache');
  assert.equal(stdout.stdout, text, 'stdout and textfile agree');

  const line = (s: string) => assert.ok(text.split('\n').includes(s), `missing line: ${s}\n${text}`);
  line('# TYPE ingot_boots_total counter');
  line('ingot_boots_total{kind="family",name="kernel",version="1.0.0",result="ok"} 3');
  line('ingot_boots_total{kind="family",name="kernel",version="1.0.0",result="fail"} 1');
  line('ingot_boots_total{kind="family",name="kernel",version="1.0.0",result="timeout"} 1');
  line('ingot_boots_total{kind="family",name="kernel",version="2.0.0",result="fail"} 1');
  line('ingot_cached_version_info{kind="family",name="kernel",version="1.0.0"} 1');
  line('ingot_current_version_info{kind="family",name="kernel",version="1.0.0",channel=""} 1');
  line('# TYPE ingot_boot_handshake_seconds histogram');
  line('ingot_boot_handshake_seconds_bucket{kind="family",name="kernel",version="1.0.0",le="0.01"} 1');
  line('ingot_boot_handshake_seconds_bucket{kind="family",name="kernel",version="1.0.0",le="0.05"} 2');
  line('ingot_boot_handshake_seconds_bucket{kind="family",name="kernel",version="1.0.0",le="+Inf"} 4');
  line('ingot_boot_handshake_seconds_count{kind="family",name="kernel",version="1.0.0"} 4');
  assert.match(text, /^ingot_boot_handshake_seconds_sum\{kind="family",name="kernel",version="1.0.0"\} 30\.169\d*$/m);
  line('ingot_pulls_total{result="ok"} 1');
  line('ingot_pulls_total{result="fail"} 1');
  line('ingot_last_pull_success 0');
  line('ingot_verification_failures_total{code="INGOT_DIGEST_MISMATCH"} 1');
  assert.match(text, /^ingot_last_pull_timestamp_seconds \d+(\.\d+)?$/m);

  const promtool = needTool(t, 'promtool', 'prometheus');
  if (promtool) {
    const checked = await run(promtool, ['check', 'metrics'], { input: text, reject: false });
    assert.equal(checked.exitCode, 0, `promtool: ${checked.stdout}${checked.stderr}`);
    // promtool lints too: it must not complain about names, units or help texts.
    assert.equal(`${checked.stdout}${checked.stderr}`.trim(), '', 'promtool has no lint findings');
  }
});

test('record-boot is safe under concurrent callers: every boot from parallel processes is counted, the ring stays bounded', async (t) => {
  const root = await tempDir(t, 'ingot-fleet-conc-');
  const cache = path.join(root, 'cache');
  await fs.mkdir(cache);
  const workers = 4;
  const each = 25;
  // Separate processes (the cache lock is between processes), each recording in a loop.
  const module = new URL('../../dist/src/cache/fleet-state.js', import.meta.url).href;
  const script = `const { recordBoot } = await import(${JSON.stringify(module)});
const [cache, w, each] = process.argv.slice(1);
for (let i = 0; i < Number(each); i++) await recordBoot(cache, { kind: 'family', name: 'kernel', version: 'v' + (Number(w) % 2), result: i % 3 === 0 ? 'fail' : 'ok', handshakeMs: 10 * i });`;
  const results = await Promise.all(
    Array.from({ length: workers }, (_, w) => run(process.execPath, ['--input-type=module', '-e', script, cache, String(w), String(each)], { reject: false })),
  );
  for (const r of results) assert.equal(r.exitCode, 0, r.stderr);
  const state = await loadFleetState(cache);
  const total = state.counters.reduce((n, c) => n + c.boots.ok + c.boots.fail + c.boots.timeout, 0);
  assert.equal(total, workers * each, 'no boot lost to a concurrent writer');
  assert.equal(state.ring.length, workers * each);
  for (const c of state.counters) assert.equal(c.handshake.buckets.length, HANDSHAKE_BUCKETS.length);
  await assert.rejects(fs.access(path.join(cache, '.ingot', 'lock')), 'the lock is released');
  assert.ok(RING_SIZE >= workers * each);
});

test("record-boot --boot-set defaults to the current pair's kernel label; metrics refuses a missing cache", async (t) => {
  const root = await tempDir(t, 'ingot-fleet-bs-');
  const r = await ingot(root, 'metrics', '--cache', 'nope');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no host cache/);
  await fs.mkdir(path.join(root, 'cache'));
  const none = await ingot(root, 'cache', 'record-boot', '--cache', 'cache', '--boot-set', 'default', '--result', 'ok');
  assert.equal(none.code, 2);
  assert.match(none.stderr, /boot set "default" has no current version/);
  const given = await ingot(
    root,
    'cache',
    'record-boot',
    '--cache',
    'cache',
    '--boot-set',
    'default',
    '--version',
    '6.1.50-20251217a',
    '--result',
    'timeout',
    '--textfile',
    'ingot.prom',
  );
  assert.equal(given.code, 0, given.stderr);
  const text = (await ingot(root, 'metrics', '--cache', 'cache')).stdout;
  assert.equal(await fs.readFile(path.join(root, 'ingot.prom'), 'utf8'), text, 'record-boot --textfile rewrote the textfile');
  assert.match(text, /^ingot_boots_total\{kind="boot_set",name="default",version="6.1.50-20251217a",result="timeout"\} 1$/m);
});
