// Canary rollouts: the share over many hosts, stability, and pulls following a rolled-out channel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { readHostId, rolloutBucket, takesNew, parseRollout } from '../../src/fleet/rollout.js';
import { applySet, channelStack, parseChannelFile, type ChannelFile } from '../../src/trust/channels.js';
import type { IndexEntry } from '../../src/trust/catalogue.js';
import { fleetStore, ingot } from './helpers.js';
import { tempDir } from '../cache/fixtures.js';

const hosts = Array.from({ length: 10_000 }, (_, i) => `host-${i.toString(16).padStart(8, '0')}`);

test('over 10,000 host ids each share lands within ±1.5 %, and the choice is the same on every run', () => {
  for (const share of [1, 10, 25, 50, 90]) {
    const taking = hosts.filter((h) => takesNew(rolloutBucket(h, 'kernel', 'stable', '2.0.0'), share)).length;
    assert.ok(Math.abs(taking / hosts.length - share / 100) <= 0.015, `share ${share} %: ${taking} of ${hosts.length}`);
  }
  // Stable across runs and processes: a digest of the decisions at 10 %, fixed here.
  const decisions = hosts.map((h) => (takesNew(rolloutBucket(h, 'kernel', 'stable', '2.0.0'), 10) ? '1' : '0')).join('');
  assert.equal(createHash('sha256').update(decisions).digest('hex').slice(0, 16), STABLE_DIGEST);
  // Raising the share keeps every host that already had the version.
  for (const h of hosts.slice(0, 500)) {
    const b = rolloutBucket(h, 'kernel', 'stable', '2.0.0');
    if (takesNew(b, 10)) assert.ok(takesNew(b, 50));
  }
  // Another version or channel draws another sample of hosts.
  const a = hosts.slice(0, 2000).filter((h) => takesNew(rolloutBucket(h, 'kernel', 'stable', '2.0.0'), 10));
  const b = new Set(hosts.slice(0, 2000).filter((h) => takesNew(rolloutBucket(h, 'kernel', 'stable', '3.0.0'), 10)));
  assert.ok(a.filter((h) => b.has(h)).length < a.length / 2);
});
const STABLE_DIGEST = '11cd4e8ddbc9a8ff';

test('rollout values, host ids and the channel stack', async (t) => {
  assert.equal(parseRollout('10%'), 10);
  assert.equal(parseRollout('12.5 %'), 12.5);
  assert.equal(parseRollout('100'), 100);
  for (const bad of ['101%', '-1%', 'ten', '', '10%%']) assert.throws(() => parseRollout(bad), /--rollout must be a share/);
  assert.equal(await readHostId(' abc '), 'abc');
  const dir = await tempDir(t);
  await assert.rejects(readHostId(undefined, path.join(dir, 'machine-id')), /no stable id: .*machine-id is missing[\s\S]*/);
  await fs.writeFile(path.join(dir, 'machine-id'), '\n');
  await assert.rejects(readHostId(undefined, path.join(dir, 'machine-id')), /is empty/);
  await fs.writeFile(path.join(dir, 'machine-id'), '0123456789abcdef\n');
  assert.equal(await readHostId(undefined, path.join(dir, 'machine-id')), '0123456789abcdef');

  const entry = (v: string) => ({ version: v, path: `p/${v}`, checksum: `sha256:${v.padStart(64, '0')}` }) as IndexEntry;
  const now = new Date('2026-01-01T00:00:00Z');
  let file: ChannelFile = applySet(undefined, 'k', 'stable', entry('1'), now);
  file = applySet(file, 'k', 'stable', entry('2'), now, 10);
  file = applySet(file, 'k', 'stable', entry('2'), now, 50);
  assert.deepEqual(
    channelStack(file, 'stable').map((p) => [p.version, p.rollout]),
    [
      ['1', undefined],
      ['2', 50],
    ],
    'raising replaces the top',
  );
  file = applySet(file, 'k', 'stable', entry('2'), now);
  assert.equal(file.channels.stable!.rollout, undefined, '100 % is written as no rollout');
  // Old channel files (no rollout, no reason) still parse; bad shares are refused.
  const old = {
    schemaVersion: 1,
    family: 'k',
    sequence: 1,
    updatedAt: '',
    channels: { s: { version: '1', path: 'p', checksum: 'sha256:0', setAt: '' } },
    history: [],
  };
  assert.ok(parseChannelFile(Buffer.from(JSON.stringify(old)), 'k'));
  const bad = { ...old, channels: { s: { ...old.channels.s, rollout: 140 } } };
  assert.throws(() => parseChannelFile(Buffer.from(JSON.stringify(bad)), 'k'), /rollout 140/);
});

test('channel set --rollout: a share of hosts takes the new version, the rest stay; raise it, then 100 %', async (t) => {
  const { root, storeDir, key, pub } = await fleetStore(t);
  const set = async (...extra: string[]) => {
    const r = await ingot(root, 'channel', 'set', 'kernel', 'stable', ...extra, '--store', storeDir, '--signing-key', key, '--json');
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { sequence: number; rollout?: number };
  };
  await set('1.0.0');
  assert.equal((await set('2.0.0', '--rollout', '30%')).rollout, 30);
  const ids = Array.from({ length: 12 }, (_, i) => `h${i}`);
  const expected = (share: number) => ids.map((id) => (takesNew(rolloutBucket(id, 'kernel', 'stable', '2.0.0'), share) ? '2.0.0' : '1.0.0'));
  const pullAll = async () => {
    const out: string[] = [];
    for (const id of ids) {
      const r = await ingot(
        root,
        'pull',
        'kernel',
        '--channel',
        'stable',
        '--host-id',
        id,
        '--store',
        storeDir,
        '--to',
        `cache-${id}`,
        '--public-key',
        pub,
        '--json',
      );
      assert.equal(r.code, 0, r.stderr);
      const result = JSON.parse(r.stdout) as { version: string; rollout?: { share: number; chosen: string } };
      if (result.rollout) assert.equal(result.rollout.chosen, result.version === '2.0.0' ? 'new' : 'previous');
      out.push(result.version);
    }
    return out;
  };
  // The catalogue shows the share, from the signed channel file.
  assert.equal((await ingot(root, 'catalogue', '--store', storeDir, '--out', 'site', '--public-key', pub)).code, 0);
  assert.match(await fs.readFile(path.join(root, 'site/index.html'), 'utf8'), /2\.0\.0 <span class="chip rollout">rollout 30 %<\/span>/);
  const first = await pullAll();
  assert.deepEqual(first, expected(30));
  assert.ok(first.includes('2.0.0') && first.includes('1.0.0'), `both versions among 12 hosts at 30 %: ${first.join(' ')}`);
  assert.deepEqual(await pullAll(), first, 'the same answer on every run');

  // Without a host id and without /etc/machine-id this would be an error; with --host-id it never is.
  const r = await ingot(root, 'pull', 'kernel', '--channel', 'stable', '--host-id', '', '--store', storeDir, '--to', 'cache-x', '--public-key', pub);
  assert.equal(r.code, 2);

  const raised = await set('2.0.0', '--rollout', '80%');
  assert.equal(raised.rollout, 80);
  const second = await pullAll();
  assert.deepEqual(second, expected(80));
  for (const [i, v] of first.entries()) if (v === '2.0.0') assert.equal(second[i], '2.0.0', 'nobody goes back when the share rises');
  await set('2.0.0');
  assert.deepEqual(
    await pullAll(),
    ids.map(() => '2.0.0'),
  );
  const list = await ingot(root, 'channel', 'list', 'kernel', '--store', storeDir, '--public-key', pub, '--history');
  assert.match(list.stdout, /kernel\/stable {2}2\.0\.0/);
  assert.match(list.stdout, /before: 1\.0\.0/);
  // Rolling back goes to 1.0.0, not to the 30 % entry of the same version.
  const back = await ingot(root, 'channel', 'rollback', 'kernel', 'stable', '--reason', 'manual test', '--store', storeDir, '--signing-key', key, '--json');
  assert.equal(back.code, 0, back.stderr);
  assert.equal(JSON.parse(back.stdout).version, '1.0.0');
  const file = JSON.parse(await fs.readFile(path.join(storeDir, 'channels/kernel.json'), 'utf8')) as ChannelFile;
  assert.equal(file.history.at(-1)!.reason, 'manual test');
});
