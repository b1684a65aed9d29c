// The guard's decisions against a Prometheus answering canned vectors (the real one: prometheus.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { guardChannel } from '../../src/fleet/guard.js';
import { grownWithin, promDuration, selector, type PrometheusClient } from '../../src/fleet/prometheus.js';
import { fleetSource } from '../../src/fleet/status.js';
import { silentLogger } from '../../src/log/logger.js';
import { readPublicKey } from '../../src/trust/key-files.js';
import { rollbackChannel, type ChannelFile } from '../../src/trust/channels.js';
import { loadSigningKey } from '../../src/trust/key-files.js';
import { rateOption } from '../../src/cli/commands/channel-guard.js';
import { fleetStore, ingot } from './helpers.js';

const canned = (counts: Record<string, number>): PrometheusClient & { queries: string[] } => {
  const queries: string[] = [];
  return {
    displayUrl: 'http://prom.test',
    queries,
    query: async (q) => {
      queries.push(q);
      return Object.entries(counts).map(([result, value]) => ({ metric: { result }, value }));
    },
  };
};

test('guard: undecided below --min-boots, held within, rolled back above (reason recorded), no earlier entry, channel moved meanwhile', async (t) => {
  const { root, store, storeDir, key, pub } = await fleetStore(t);
  const secret = (await loadSigningKey({ keyFile: key, env: {}, baseDir: root, onSecret: () => {} }))!;
  const publicKey = await readPublicKey(pub, root);
  const base = { store, publicKey, family: 'kernel', channel: 'stable', log: silentLogger };
  assert.equal((await ingot(root, 'channel', 'set', 'kernel', 'stable', '1.0.0', '--store', storeDir, '--signing-key', key)).code, 0);

  // Only one entry: a breach cannot be rolled back.
  const lonely = await guardChannel({ ...base, prometheus: canned({ ok: 5, fail: 10 }) });
  assert.equal(lonely.decision, 'undecided');
  assert.match(lonely.reason, /no earlier entry to roll back to/);

  assert.equal((await ingot(root, 'channel', 'set', 'kernel', 'stable', '2.0.0', '--store', storeDir, '--signing-key', key)).code, 0);
  const few = await guardChannel({ ...base, prometheus: canned({ ok: 3, fail: 3 }), minBoots: 10 });
  assert.equal(few.decision, 'undecided');
  const prom = canned({ ok: 95, fail: 3, timeout: 2 });
  const held = await guardChannel({ ...base, prometheus: prom });
  assert.equal(held.decision, 'held');
  assert.equal(held.failureRate, 0.05);
  assert.equal(
    prom.queries[0],
    'sum by (result) ((clamp_min(ingot_boots_total{kind="family",name="kernel",version="2.0.0"} - ingot_boots_total{kind="family",name="kernel",version="2.0.0"} offset 30m, 0) or ingot_boots_total{kind="family",name="kernel",version="2.0.0"}))',
  );
  // Timeouts alone: only with --max-timeout-rate.
  assert.equal((await guardChannel({ ...base, prometheus: prom, maxTimeoutRate: 0.01 })).decision, 'rolled-back', 'dry run (no rollback function) reports');
  const before = await fs.readFile(path.join(storeDir, 'channels/kernel.json'), 'utf8');
  assert.equal(await fs.readFile(path.join(storeDir, 'channels/kernel.json'), 'utf8'), before, 'a dry run changes nothing');

  // The channel moved between judging and rolling back: refused, nothing changed.
  const moved = guardChannel({
    ...base,
    prometheus: canned({ ok: 5, fail: 10 }),
    rollback: (reason) =>
      rollbackChannel(store, secret, { family: 'kernel', channel: 'stable', reason, expectPath: 'kernel/vmlinuz-9.9.9', log: silentLogger }),
  });
  await assert.rejects(moved, /moved meanwhile/);

  const rolled = await guardChannel({
    ...base,
    prometheus: canned({ ok: 5, fail: 10 }),
    rollback: (reason, judged) => rollbackChannel(store, secret, { family: 'kernel', channel: 'stable', reason, expectPath: judged, log: silentLogger }),
  });
  assert.equal(rolled.decision, 'rolled-back');
  assert.equal(rolled.previous, '1.0.0');
  const file = JSON.parse(await fs.readFile(path.join(storeDir, 'channels/kernel.json'), 'utf8')) as ChannelFile;
  assert.equal(file.channels.stable!.version, '1.0.0');
  assert.equal(file.history.at(-1)!.reason, rolled.reason);
  assert.match(rolled.reason, /boot failure rate 66\.7 % \(10 failed, 0 timed out of 15\) > max 10\.0 % over 30m/);
});

test('guard CLI: usage errors are exit 2; rates as fractions or percentages; PromQL helpers', async (t) => {
  const { root, storeDir, key } = await fleetStore(t);
  for (const args of [
    ['kernel', 'stable', '--store', storeDir, '--signing-key', key],
    ['kernel', '--store', storeDir, '--prometheus', 'http://x', '--signing-key', key],
    ['kernel', 'stable', '--store', storeDir, '--prometheus', 'ftp://x', '--signing-key', key],
    ['kernel', 'stable', '--store', storeDir, '--prometheus', 'http://x', '--signing-key', key, '--max-failure-rate', '150%'],
    ['kernel', 'stable', '--store', storeDir, '--prometheus', 'http://x', '--signing-key', key, '--window', 'soon'],
    ['kernel', 'stable', '--store', storeDir, '--prometheus', 'http://x'],
  ]) {
    const r = await ingot(root, 'channel', 'guard', ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
  }
  assert.equal(rateOption('0.25', 'x'), 0.25);
  assert.equal(rateOption('5%', 'x'), 0.05);
  assert.equal(promDuration(30 * 60_000), '30m');
  assert.equal(promDuration(3_600_000), '1h');
  assert.equal(promDuration(90_000), '90s');
  assert.equal(selector('m', { name: 'a"b\\c' }), 'm{name="a\\"b\\\\c"}');
  assert.equal(grownWithin('m', 60_000), '(clamp_min(m - m offset 1m, 0) or m)');
  // A fleet source whose Prometheus does not answer gives the page a reason, not an exception.
  const down = await fleetSource({ displayUrl: 'http://down', query: () => Promise.reject(new Error('connection refused')) }, 60_000)();
  assert.equal(down.error, 'connection refused');
});
