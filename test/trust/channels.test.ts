// Channels: signed pointers with history, resolved by pulls; rollback on both sides.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { pull, type PullOptions } from '../../src/cache/pull.js';
import { silentLogger } from '../../src/log/logger.js';
import { applyRollback, applySet, channelStack, rollbackChannel, setChannel } from '../../src/trust/channels.js';
import type { IndexEntry } from '../../src/trust/catalogue.js';
import { bytesFor, publish, signedStore, tempDir } from '../cache/fixtures.js';

const code = (c: string) => (e: unknown) => {
  assert.equal((e as { code?: string }).code, c, (e as Error).message);
  return true;
};

test('channel history replays as a stack: repeated rollbacks walk back, never bounce', () => {
  const entry = (v: string) => ({ version: v, path: `p/${v}`, checksum: `sha256:${'0'.repeat(64)}` }) as IndexEntry;
  const now = new Date('2026-01-01T00:00:00Z');
  let file = applySet(undefined, 'k', 'stable', entry('1'), now);
  file = applySet(file, 'k', 'stable', entry('2'), now);
  file = applySet(file, 'k', 'canary', entry('9'), now);
  file = applySet(file, 'k', 'stable', entry('3'), now);
  file = applyRollback(file, 'stable', now);
  assert.equal(file.channels.stable!.version, '2');
  file = applyRollback(file, 'stable', now);
  assert.equal(file.channels.stable!.version, '1');
  assert.throws(() => applyRollback(file, 'stable', now), code('INGOT_USAGE'));
  assert.equal(file.channels.canary!.version, '9');
  assert.equal(file.sequence, 6);
  assert.deepEqual(
    channelStack(file, 'stable').map((p) => p.version),
    ['1'],
  );
  assert.equal(file.history.length, 6);
});

test('pull FAMILY --channel stable follows channel set and channel rollback; replays and tampering are refused', async (t) => {
  const { store, dir, key, sign } = await signedStore(t);
  const cache = await tempDir(t);
  for (const v of ['1.0.0', '1.1.0', '2.0.0']) {
    await publish(store, {
      path: `kernel/vmlinuz-${v}`,
      bytes: bytesFor(v, 3000),
      family: 'kernel',
      version: v,
      compatibility: { protocols: v.startsWith('2') ? [2] : [1] },
    });
  }
  await sign();
  const opts = (over: Partial<PullOptions> = {}): PullOptions => ({
    store,
    cacheDir: cache,
    publicKey: key.publicKey,
    target: 'kernel',
    channel: 'stable',
    log: silentLogger,
    ...over,
  });
  const set = (version: string) => setChannel(store, key, { family: 'kernel', channel: 'stable', version, log: silentLogger });

  await assert.rejects(pull(opts()), code('INGOT_NOT_IN_INDEX'));
  await set('1.0.0');
  assert.equal((await pull(opts())).version, '1.0.0');
  await set('1.1.0');
  const oldChannel = await fs.readFile(path.join(dir, 'channels/kernel.json'));
  const oldSig = await fs.readFile(path.join(dir, 'channels/kernel.json.minisig'));
  assert.equal((await pull(opts())).version, '1.1.0');
  assert.equal(await fs.readlink(path.join(cache, 'current-kernel')), 'vmlinuz-1.1.0');
  await rollbackChannel(store, key, { family: 'kernel', channel: 'stable', log: silentLogger });
  const back = await pull(opts());
  assert.equal(back.version, '1.0.0');
  assert.equal(back.status, 'cached');
  assert.equal(await fs.readlink(path.join(cache, 'current-kernel')), 'vmlinuz-1.0.0');

  // A replayed older channel file (sequence 2 after 3 was accepted).
  await fs.writeFile(path.join(dir, 'channels/kernel.json'), oldChannel);
  await fs.writeFile(path.join(dir, 'channels/kernel.json.minisig'), oldSig);
  await assert.rejects(pull(opts()), code('INGOT_CHANNEL_ROLLBACK'));
  assert.equal((await pull(opts({ allowRollback: true }))).version, '1.1.0');
  // Tampered channel file.
  await fs.writeFile(path.join(dir, 'channels/kernel.json'), oldChannel.toString().replace('1.1.0', '2.0.0'));
  await assert.rejects(pull(opts({ allowRollback: true })), code('INGOT_SIGNATURE_INVALID'));
  await fs.writeFile(path.join(dir, 'channels/kernel.json'), oldChannel);

  // Unknown version.
  await assert.rejects(set('9.9.9'), code('INGOT_NOT_IN_INDEX'));
  // A channel on a version this host cannot run names the newest one it can.
  await set('2.0.0');
  await assert.rejects(pull(opts({ host: { protocols: [1] } })), (e: unknown) => {
    code('INGOT_INCOMPATIBLE')(e);
    assert.match((e as { hint: string }).hint, /newest compatible version is 1\.1\.0/);
    return true;
  });
  // Channel and index disagree about the bytes (re-published after the channel moved, index re-signed).
  await publish(store, { path: 'kernel/vmlinuz-2.0.0', bytes: bytesFor('2.0.0-rebuilt', 3000), family: 'kernel', version: '2.0.0' });
  await sign();
  await assert.rejects(pull(opts()), code('INGOT_DIGEST_MISMATCH'));
});
