// Fleet operations with the real parts: three simulated hosts, each with its own cache and node_exporter
// (textfile collector), a real Prometheus scraping them every second, and `ingot channel guard` /
// `ingot fleet status` / `ingot catalogue --prometheus` reading Prometheus' HTTP API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { prometheusClient } from '../../src/fleet/prometheus.js';
import { fleetSource } from '../../src/fleet/status.js';
import { silentLogger } from '../../src/log/logger.js';
import { startServer } from '../../src/serve/server.js';
import { FsBackend } from '../../src/store/fs-backend.js';
import type { ChannelFile } from '../../src/trust/channels.js';
import { needTool } from '../helpers/tools.js';
import { fleetStore, ingot } from './helpers.js';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Starts a long-running tool with its output in a log file; stopped (by its pid) after the test. */
function daemon(t: { after(fn: () => Promise<void>): void }, bin: string, args: string[], log: string): ChildProcess {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => chunks.push(d));
  child.stderr!.on('data', (d: Buffer) => chunks.push(d));
  t.after(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000).then(() => child.kill('SIGKILL'))]);
    }
    await fs.writeFile(log, Buffer.concat(chunks)).catch(() => undefined);
  });
  return child;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(300);
  }
}

test('three hosts, node_exporter and Prometheus: guard refuses below --min-boots, holds below the threshold, rolls back above it; hosts follow', async (t) => {
  const prometheusBin = needTool(t, 'prometheus');
  const exporterBin = prometheusBin && needTool(t, 'prometheus-node-exporter');
  if (!prometheusBin || !exporterBin) return;
  const { root, storeDir, key, pub } = await fleetStore(t);
  const cli = (...argv: string[]) => ingot(root, ...argv);
  const set = await cli('channel', 'set', 'kernel', 'stable', '1.0.0', '--store', storeDir, '--signing-key', key);
  assert.equal(set.code, 0, set.stderr);
  assert.equal((await cli('channel', 'set', 'kernel', 'stable', '2.0.0', '--store', storeDir, '--signing-key', key)).code, 0);

  // Three hosts: a cache, a textfile directory and a node_exporter each.
  const hosts = await Promise.all(
    ['h1', 'h2', 'h3'].map(async (name) => {
      const textfiles = path.join(root, name, 'textfiles');
      await fs.mkdir(textfiles, { recursive: true });
      const port = await freePort();
      daemon(
        t,
        exporterBin,
        [`--web.listen-address=127.0.0.1:${port}`, '--collector.disable-defaults', '--collector.textfile', `--collector.textfile.directory=${textfiles}`],
        path.join(root, name, 'node-exporter.log'),
      );
      return { name, port, cache: path.join(name, 'cache'), textfile: path.join(textfiles, 'ingot.prom') };
    }),
  );
  const promPort = await freePort();
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    'scrape_configs:',
    '  - job_name: hosts',
    '    static_configs:',
    ...hosts.map((h) => `      - targets: ["127.0.0.1:${h.port}"]\n        labels: { host: "${h.name}" }`),
  ].join('\n');
  await fs.writeFile(path.join(root, 'prometheus.yml'), `${config}\n`);
  daemon(
    t,
    prometheusBin,
    [
      `--config.file=${path.join(root, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(root, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--log.level=warn',
    ],
    path.join(root, 'prometheus.log'),
  );
  const promUrl = `http://127.0.0.1:${promPort}`;
  const prom = prometheusClient(promUrl);
  await waitFor('Prometheus to be ready', async () => ((await fetch(`${promUrl}/-/ready`)).ok ? true : undefined));

  const pullAll = async () => {
    for (const h of hosts) {
      const r = await cli('pull', 'kernel', '--channel', 'stable', '--store', storeDir, '--to', h.cache, '--public-key', pub, '--json');
      assert.equal(r.code, 0, r.stderr);
    }
  };
  const boot = async (h: (typeof hosts)[number], result: string, times: number) => {
    for (let i = 0; i < times; i++) {
      const r = await cli('cache', 'record-boot', '--cache', h.cache, '--family', 'kernel', '--result', result, '--handshake-ms', String(20 + i));
      assert.equal(r.code, 0, r.stderr);
    }
  };
  const exportAll = async () => {
    for (const h of hosts) assert.equal((await cli('metrics', '--cache', h.cache, '--textfile', h.textfile)).code, 0);
  };
  const scraped = (version: string, total: number) =>
    waitFor(`Prometheus to see ${total} boots of ${version}`, async () => {
      const v = await prom.query(`sum(ingot_boots_total{name="kernel",version="${version}"})`);
      return v[0]?.value === total ? true : undefined;
    });
  const guard = async (...extra: string[]) => {
    const r = await cli(
      'channel',
      'guard',
      'kernel',
      'stable',
      '--store',
      storeDir,
      '--prometheus',
      promUrl,
      '--signing-key',
      key,
      '--min-boots',
      '10',
      '--json',
      ...extra,
    );
    return {
      code: r.code,
      verdict: JSON.parse(r.stdout || '{}') as { decision: string; reason: string; boots: Record<string, number>; query: string; previous?: string },
      stderr: r.stderr,
    };
  };

  await pullAll();
  // Too few boots: no decision (exit 4).
  for (const h of hosts) await boot(h, 'ok', 1);
  await exportAll();
  await scraped('2.0.0', 3);
  const few = await guard();
  assert.equal(few.code, 4, few.stderr);
  assert.equal(few.verdict.decision, 'undecided');
  assert.match(few.verdict.reason, /only 3 boots .* fewer than --min-boots 10/);

  // Enough boots, one failure in 15 (6.7 %): held (exit 0). --debug shows the PromQL.
  for (const h of hosts) await boot(h, 'ok', 4);
  await boot(hosts[0]!, 'fail', 1);
  await exportAll();
  await scraped('2.0.0', 16);
  const held = await guard('--debug');
  assert.equal(held.code, 0, held.stderr);
  assert.equal(held.verdict.decision, 'held');
  assert.deepEqual(held.verdict.boots, { ok: 15, fail: 1, timeout: 0, total: 16 });
  assert.match(held.stderr, /PromQL: sum by \(result\) \(\(clamp_min\(ingot_boots_total\{kind="family",name="kernel",version="2\.0\.0"\}/);

  // fleet status: three hosts on 2.0.0 through stable, their boots.
  const status = await cli('fleet', 'status', '--prometheus', promUrl, '--json');
  assert.equal(status.code, 0, status.stderr);
  const st = JSON.parse(status.stdout) as {
    versions: { name: string; channel: string; version: string; hosts: number }[];
    boots: { version: string; ok: number; fail: number; successRate: number }[];
  };
  assert.deepEqual(
    st.versions.map((v) => [v.name, v.channel, v.version, v.hosts]),
    [['kernel', 'stable', '2.0.0', 3]],
  );
  assert.equal(st.boots.find((b) => b.version === '2.0.0')!.ok, 15);
  const table = await cli('fleet', 'status', '--prometheus', promUrl);
  assert.match(table.stdout, /kernel +stable +2\.0\.0 +3/);
  assert.match(table.stdout, /kernel +2\.0\.0 +15 +1 +0 +93\.8 %/);

  // Host 3 starts failing and timing out: 7 of 22 failed (31.8 %), 3 timed out (13.6 %). --dry-run reports, changes nothing (exit 3).
  await boot(hosts[2]!, 'fail', 3);
  await boot(hosts[2]!, 'timeout', 3);
  await exportAll();
  await scraped('2.0.0', 22);
  const channelFile = path.join(storeDir, 'channels/kernel.json');
  const before = await fs.readFile(channelFile, 'utf8');
  const dry = await guard('--dry-run', '--max-timeout-rate', '0.5');
  assert.equal(dry.code, 3, dry.stderr);
  assert.match(dry.verdict.reason, /dry run/);
  assert.equal(await fs.readFile(channelFile, 'utf8'), before);
  const rolled = await guard('--max-timeout-rate', '10%');
  assert.equal(rolled.code, 3, rolled.stderr);
  assert.equal(rolled.verdict.decision, 'rolled-back');
  assert.equal(rolled.verdict.previous, '1.0.0');
  const file = JSON.parse(await fs.readFile(channelFile, 'utf8')) as ChannelFile;
  assert.equal(file.channels.stable!.version, '1.0.0');
  const last = file.history.at(-1)!;
  assert.equal(last.action, 'rollback');
  assert.match(last.reason!, /^channel guard: boot failure rate 31\.8 % \(4 failed, 3 timed out of 22\) > max 10\.0 %/);
  assert.match(last.reason!, /handshake timeout rate 13\.6 %/);
  const verified = await cli('channel', 'list', 'kernel', '--store', storeDir, '--public-key', pub);
  assert.equal(verified.code, 0, 'the rolled-back channel file verifies');

  // The hosts' next pull follows the rolled-back channel; Prometheus sees them move.
  await pullAll();
  await exportAll();
  await waitFor('all three hosts on 1.0.0', async () => {
    const v = await prom.query('count by (version) (ingot_current_version_info{name="kernel"})');
    return v.length === 1 && v[0]!.metric.version === '1.0.0' && v[0]!.value === 3 ? true : undefined;
  });
  // The guard now judges 1.0.0: no boots of it, no decision.
  const after = await guard();
  assert.equal(after.code, 4);

  // The catalogue's fleet section, from the same Prometheus.
  const cat = await cli('catalogue', '--store', storeDir, '--out', 'site', '--public-key', pub, '--prometheus', promUrl);
  assert.equal(cat.code, 0, cat.stderr);
  const json = JSON.parse(await fs.readFile(path.join(root, 'site/catalogue.json'), 'utf8')) as {
    fleet: { versions: { family: string; version: string; hosts: number }[]; boots: { version: string; success: number; failure: number }[] };
  };
  assert.deepEqual(json.fleet.versions, [{ family: 'kernel', version: '1.0.0', hosts: 3 }]);
  assert.deepEqual(
    json.fleet.boots.find((b) => b.version === '2.0.0'),
    { family: 'kernel', version: '2.0.0', success: 15, failure: 7 },
  );
  const page = await fs.readFile(path.join(root, 'site/index.html'), 'utf8');
  assert.match(page, /<section id="fleet">/);
  assert.match(page, /rolled back to <strong>1\.0\.0<\/strong>.*channel guard: boot failure rate/s);

  // ingot serve --prometheus: the JSON API carries the same fleet object, the page its section.
  const server = await startServer({
    backend: new FsBackend(storeDir),
    host: '127.0.0.1',
    port: 0,
    log: silentLogger,
    accessLog: () => {},
    fleet: fleetSource(prom, 3_600_000),
  });
  t.after(() => server.close());
  const api = (await (await fetch(`${server.url}api/v1/catalogue`)).json()) as typeof json;
  assert.deepEqual(api.fleet.versions, json.fleet.versions);
  assert.deepEqual(api.fleet.boots, json.fleet.boots);
  assert.match(await (await fetch(server.url)).text(), /<section id="fleet">[\s\S]*Boot success by version/);

  // Prometheus gone: an error (exit 1, INGOT_PROMETHEUS), not a decision.
  const down = await cli(
    'channel',
    'guard',
    'kernel',
    'stable',
    '--store',
    storeDir,
    '--prometheus',
    `http://127.0.0.1:${await freePort()}`,
    '--signing-key',
    key,
  );
  assert.equal(down.code, 1);
  assert.match(down.stderr, /INGOT_PROMETHEUS/);
});
