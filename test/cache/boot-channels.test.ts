// Boot sets through signed channels: `channel set --boot-set` pins the current boot manifest,
// hosts follow the channel (with rollout shares by host id), a rollback brings them back to the
// pinned older pair even though boot/<set>.json names the new one, and a tampered pinned copy or a
// replayed older channel file is refused.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { test } from 'node:test';
import { guardChannel } from '../../src/fleet/guard.js';
import type { PrometheusClient } from '../../src/fleet/prometheus.js';
import { rolloutBucket } from '../../src/fleet/rollout.js';
import { silentLogger } from '../../src/log/logger.js';
import { FsBackend } from '../../src/store/fs-backend.js';
import { ImageStore } from '../../src/store/image-store.js';
import { buildCatalogue } from '../../src/serve/catalogue.js';
import { rollbackChannel } from '../../src/trust/channels.js';
import { openSecretKey } from '../../src/trust/keys.js';
import { signBytes } from '../../src/trust/signature.js';
import { ingot, kernelFile, NEW, OLD, publisher } from './boot-fixtures.js';
import { tempDir } from './fixtures.js';

const OLD_LABEL = `${OLD.kernel}-${OLD.build}`;
const NEW_LABEL = `${NEW.kernel}-${NEW.build}`;

interface BootPullJson {
  status: string;
  kernel: { file: string; label: string };
  channel?: { name: string; sequence: number; version: string };
  rollout?: { share: number; chosen: string; version: string };
}

test('boot sets through channels: pin, roll out by host id, roll back to the pinned pair, refuse tampering and replays', async (t) => {
  const root = await tempDir(t, 'ingot-bootch-');
  const store = path.join(root, 'store');
  const pub = await publisher(root, [OLD, NEW]);
  const sync = async () => {
    const r = await ingot(root, 'sync', '--store', store);
    assert.equal(r.code, 0, r.stderr);
  };
  const publisherFlags = ['--store', store, '--signing-key', path.join(root, 'keys', 'ingot.key')];
  const channel = async (...argv: string[]) => ingot(root, 'channel', ...argv, ...publisherFlags, '--json');
  const pull = async (cache: string, hostId: string) =>
    ingot(
      root,
      'pull',
      '--boot-set',
      'default',
      '--channel',
      'stable',
      '--host-id',
      hostId,
      '--store',
      store,
      '--to',
      path.join(root, cache),
      '--public-key',
      path.join(root, 'keys', 'ingot.pub'),
      '--agent-version',
      '1.2.0',
      '--protocol',
      '1',
      '--json',
    );
  const current = async (cache: string) => fs.readlink(path.join(root, cache, 'current'));

  // Two hosts on either side of a 50 % share of the new version (their buckets are deterministic).
  const ids = Array.from({ length: 40 }, (_, i) => `host-${i}`);
  const inside = ids.find((id) => rolloutBucket(id, 'boot-set:default', 'stable', NEW_LABEL) < 50)!;
  const outside = ids.find((id) => rolloutBucket(id, 'boot-set:default', 'stable', NEW_LABEL) >= 50)!;
  assert.ok(inside && outside);

  // Day 1: the old pair, pinned and put on the channel.
  await pub.write(OLD);
  await sync();
  const noChannel = await pull('a', inside);
  assert.equal(noChannel.code, 2, noChannel.stderr);
  assert.match(noChannel.stderr, /boot set "default" has no channels in this store/);
  const set1 = await channel('set', '--boot-set', 'default', 'stable');
  assert.equal(set1.code, 0, set1.stderr);
  const manifest1 = await fs.readFile(path.join(store, 'boot', 'default.json'));
  const hex1 = createHash('sha256').update(manifest1).digest('hex');
  const p1 = JSON.parse(set1.stdout) as { version: string; path: string; checksum: string; sequence: number; pinned: boolean };
  assert.deepEqual([p1.version, p1.path, p1.checksum, p1.sequence, p1.pinned], [OLD_LABEL, `boot/default/${hex1}.json`, `sha256:${hex1}`, 1, true]);
  assert.deepEqual(await fs.readFile(path.join(store, p1.path)), manifest1);
  await fs.access(path.join(store, `${p1.path}.minisig`));
  // A version that is neither the current manifest's nor an earlier entry's is refused, with the known ones.
  const unknown = await channel('set', '--boot-set', 'default', 'stable', '9.9.9-x');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /boot set "default" has no version "9\.9\.9-x"[\s\S]*6\.1\.45-20251201a/);
  // The pinned copy is not a boot set of its own; the family listing is not confused by the nested channel file.
  const listed = await ingot(root, 'channel', 'list', '--store', store, '--json');
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual((JSON.parse(listed.stdout) as { families: unknown[] }).families, []);
  const listedSet = await ingot(
    root,
    'channel',
    'list',
    '--boot-set',
    'default',
    '--store',
    store,
    '--public-key',
    path.join(root, 'keys', 'ingot.pub'),
    '--json',
  );
  assert.equal(listedSet.code, 0, listedSet.stderr);
  assert.equal(
    (JSON.parse(listedSet.stdout) as { families: { kind: string; channels: Record<string, { version: string }> }[] }).families[0]!.channels.stable!.version,
    OLD_LABEL,
  );

  const a1 = await pull('a', inside);
  assert.equal(a1.code, 0, a1.stderr);
  const a1j = JSON.parse(a1.stdout) as BootPullJson;
  assert.deepEqual([a1j.status, a1j.kernel.label, a1j.channel], ['pulled', OLD_LABEL, { name: 'stable', sequence: 1, version: OLD_LABEL }]);
  assert.equal(a1j.rollout, undefined);
  assert.equal(await current('a'), kernelFile(OLD));
  const replay = {
    bytes: await fs.readFile(path.join(store, 'channels', 'boot-sets', 'default.json')),
    sig: await fs.readFile(path.join(store, 'channels', 'boot-sets', 'default.json.minisig')),
  };

  // Day 2: the new pair is synced (boot/default.json now names it) and rolled out to 50 %.
  await pub.write(NEW);
  await sync();
  const set2 = await channel('set', '--boot-set', 'default', 'stable', NEW_LABEL, '--rollout', '50%');
  assert.equal(set2.code, 0, set2.stderr);
  assert.equal((JSON.parse(set2.stdout) as { rollout: number }).rollout, 50);
  const a2 = JSON.parse((await pull('a', inside)).stdout) as BootPullJson;
  assert.deepEqual([a2.status, a2.kernel.label, a2.rollout?.chosen, a2.rollout?.share, a2.rollout?.version], ['pulled', NEW_LABEL, 'new', 50, NEW_LABEL]);
  assert.equal(await current('a'), kernelFile(NEW));
  const b = await pull('b', outside);
  assert.equal(b.code, 0, b.stderr);
  const bj = JSON.parse(b.stdout) as BootPullJson;
  assert.deepEqual([bj.kernel.label, bj.rollout?.chosen], [OLD_LABEL, 'previous']);
  assert.equal(await current('b'), kernelFile(OLD));

  // A replayed older channel file (validly signed, sequence 1) is refused; nothing moves.
  const channelFile = path.join(store, 'channels', 'boot-sets', 'default.json');
  const now = { bytes: await fs.readFile(channelFile), sig: await fs.readFile(`${channelFile}.minisig`) };
  await fs.writeFile(channelFile, replay.bytes);
  await fs.writeFile(`${channelFile}.minisig`, replay.sig);
  const replayed = await pull('a', inside);
  assert.equal(replayed.code, 1, replayed.stderr);
  assert.match(replayed.stderr, /INGOT_CHANNEL_ROLLBACK|channel file for boot set "default" went back: sequence 1, this cache already accepted 2/);
  assert.equal(await current('a'), kernelFile(NEW));
  await fs.writeFile(channelFile, now.bytes);
  await fs.writeFile(`${channelFile}.minisig`, now.sig);

  // Rollback: host a goes back to the pinned old pair, although boot/default.json names the new one
  // (and the pinned copy was signed before the current manifest: no boot-manifest replay floor applies).
  const back = await channel('rollback', '--boot-set', 'default', 'stable', '--reason', 'boot failures');
  assert.equal(back.code, 0, back.stderr);
  assert.deepEqual(
    [(JSON.parse(back.stdout) as { version: string; sequence: number }).version, (JSON.parse(back.stdout) as { sequence: number }).sequence],
    [OLD_LABEL, 3],
  );
  const a3 = await pull('a', inside);
  assert.equal(a3.code, 0, a3.stderr);
  const a3j = JSON.parse(a3.stdout) as BootPullJson;
  assert.deepEqual([a3j.kernel.label, a3j.channel?.sequence, a3j.rollout], [OLD_LABEL, 3, undefined]);
  assert.equal(await current('a'), kernelFile(OLD));
  assert.match(await fs.readFile(path.join(store, 'boot', 'default.json'), 'utf8'), new RegExp(NEW.build));

  // Re-pointing at an earlier entry by its version, while boot/default.json names another pair.
  const repin = await channel('set', '--boot-set', 'default', 'stable', NEW_LABEL);
  assert.equal(repin.code, 0, repin.stderr);
  const repinned = JSON.parse(repin.stdout) as { path: string; pinned: boolean };
  assert.equal(repinned.pinned, false, 'the new manifest was pinned already');
  const again = await channel('set', '--boot-set', 'default', 'canary', OLD_LABEL);
  assert.equal(again.code, 0, again.stderr);
  assert.equal((JSON.parse(again.stdout) as { path: string }).path, p1.path);

  // A pinned copy whose bytes are not the ones the channel names (even validly signed) is refused.
  const key = await openSecretKey(await fs.readFile(path.join(root, 'keys', 'ingot.key'), 'utf8'));
  const pinnedNew = path.join(store, repinned.path);
  const forged = Buffer.from((await fs.readFile(pinnedNew, 'utf8')).replace('"1.0.0"', '"0.0.1"'));
  await fs.writeFile(pinnedNew, forged);
  await fs.writeFile(
    `${pinnedNew}.minisig`,
    signBytes(forged, key, { trustedComment: `timestamp:${Math.floor(Date.now() / 1000)}\tfile:${path.basename(pinnedNew)}` }),
  );
  const tampered = await pull('a', inside);
  assert.equal(tampered.code, 1, tampered.stderr);
  assert.match(tampered.stderr, /the pinned boot manifest .* is not the one its channel names/);
  assert.equal(await current('a'), kernelFile(OLD));

  // The guard judges the boot set's current version by the boot_set series and rolls the boot-set channel back.
  const queries: string[] = [];
  const prometheus: PrometheusClient = {
    displayUrl: 'http://prom.test',
    query: async (q) => (
      queries.push(q),
      [
        { metric: { result: 'ok' }, value: 5 },
        { metric: { result: 'fail' }, value: 10 },
      ]
    ),
  };
  const imageStore = new ImageStore(new FsBackend(store));
  const verdict = await guardChannel({
    store: imageStore,
    publicKey: key.publicKey,
    family: 'default',
    kind: 'boot-set',
    channel: 'stable',
    prometheus,
    log: silentLogger,
    rollback: (reason, judged) =>
      rollbackChannel(imageStore, key, { family: 'default', kind: 'boot-set', channel: 'stable', reason, expectPath: judged, log: silentLogger }),
  });
  assert.deepEqual([verdict.decision, verdict.version, verdict.previous], ['rolled-back', NEW_LABEL, OLD_LABEL]);
  assert.match(queries[0]!, new RegExp(`ingot_boots_total\\{kind="boot_set",name="default",version="${NEW_LABEL}"\\}`));
  const guarded = JSON.parse(await fs.readFile(channelFile, 'utf8')) as { channels: Record<string, { version: string }>; history: { reason?: string }[] };
  assert.equal(guarded.channels.stable!.version, OLD_LABEL);
  assert.equal(guarded.history.at(-1)!.reason, verdict.reason);

  // The catalogue (serve) shows one boot set and no family: pinned copies and nested channel files are not documents of their own.
  const catalogue = await buildCatalogue(new FsBackend(store), { publicKey: key.publicKey });
  assert.deepEqual(
    catalogue.bootSets.map((b) => b.name),
    ['default'],
  );
  assert.deepEqual([catalogue.families.filter((f) => f.channels.length > 0), catalogue.problems], [[], []]);

  // A mirror copies the pinned copies and the boot set's channel file: a host follows the channel from the copy.
  const copy = path.join(root, 'copy');
  const mirrored = await ingot(root, 'mirror', '--from', store, '--to', copy, '--public-key', path.join(root, 'keys', 'ingot.pub'));
  assert.equal(mirrored.code, 0, mirrored.stderr);
  assert.deepEqual(await fs.readFile(path.join(copy, p1.path)), manifest1);
  const fromCopy = await ingot(
    root,
    'pull',
    '--boot-set',
    'default',
    '--channel',
    'stable',
    '--host-id',
    outside,
    '--store',
    copy,
    '--to',
    path.join(root, 'm'),
    '--public-key',
    path.join(root, 'keys', 'ingot.pub'),
    '--agent-version',
    '1.2.0',
    '--protocol',
    '1',
    '--json',
  );
  assert.equal(fromCopy.code, 0, fromCopy.stderr);
  assert.equal((JSON.parse(fromCopy.stdout) as BootPullJson).kernel.label, OLD_LABEL);

  // Listing the store's boot sets (the hint of an unknown one) does not count pinned copies.
  const nope = await ingot(
    root,
    'pull',
    '--boot-set',
    'nope',
    '--store',
    store,
    '--to',
    path.join(root, 'c'),
    '--public-key',
    path.join(root, 'keys', 'ingot.pub'),
  );
  assert.equal(nope.code, 2);
  assert.match(nope.stderr, /boot sets in the store: default\n/);
});
