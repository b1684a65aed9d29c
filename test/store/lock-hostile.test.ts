// Issue 17 (11): an empty or garbage store lock must say what it is and yield to --break-lock
// (directory store and the S3 lock logic); concurrent `ingot sign` runs queue and each bump once.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { IngotError } from '../../src/errors.js';
import { FsBackend } from '../../src/store/fs-backend.js';
import { acquireS3Lock, type LockIo } from '../../src/store/s3-lock.js';
import { runCli, sha256, tempDir, writeManifest } from '../helpers/fixtures.js';

const base = { owner: 'next run', ttlMs: 60_000 } as const;

/** Lock file contents a crash, a person or another tool could leave behind. */
const garbage: { name: string; text: string }[] = [
  { name: 'empty', text: '' },
  { name: 'not JSON', text: 'garbage\n' },
  { name: 'a JSON array', text: '[1,2]' },
  { name: 'JSON without owner or expiry', text: '{"hello":"world"}' },
  { name: 'an owner but no expiry', text: '{"owner":"someone","host":"elsewhere","pid":1}' },
  { name: 'an unparseable expiry', text: '{"owner":"someone","host":"elsewhere","expiresAt":"soon"}' },
];

function memoryIo(): LockIo & { objects: Map<string, string> } {
  const objects = new Map<string, string>();
  return {
    objects,
    putIfAbsent: async (key, body) => {
      if (objects.has(key)) return false;
      objects.set(key, body);
      return true;
    },
    getText: async (key) => objects.get(key),
    remove: async (key) => void objects.delete(key),
    replace: async (key, body) => void objects.set(key, body),
  };
}

function assertClearLockError(e: unknown): true {
  assert.ok(e instanceof IngotError, String(e));
  assert.equal(e.code, 'INGOT_STORE_LOCKED');
  assert.doesNotMatch(`${e.message} ${e.hint}`, /\?/, 'no "expiry at ?"');
  assert.match(e.hint ?? '', /--break-lock/);
  return true;
}

describe('garbage store locks', () => {
  for (const g of garbage) {
    it(`directory store, ${g.name}: a clear INGOT_STORE_LOCKED, and --break-lock takes it`, async () => {
      const root = mkdtempSync(join(tmpdir(), 'ingot-lock-garbage-'));
      writeFileSync(join(root, '.ingot-lock'), g.text);
      const store = new FsBackend(root);
      await assert.rejects(store.lock({ ...base, timeoutMs: 0, breakExpired: false }), assertClearLockError);
      const lock = await store.lock({ ...base, timeoutMs: 0, breakExpired: true });
      assert.match(readFileSync(join(root, '.ingot-lock'), 'utf8'), /"owner":"next run"/);
      await lock.release();
    });

    it(`S3 lock, ${g.name}: a clear INGOT_STORE_LOCKED, and --break-lock takes it`, async () => {
      const io = memoryIo();
      io.objects.set('pre/.ingot-lock', g.text);
      await assert.rejects(acquireS3Lock(io, 'pre/', 's3://b/pre/', { ...base, timeoutMs: 0, breakExpired: false }), assertClearLockError);
      const lock = await acquireS3Lock(io, 'pre/', 's3://b/pre/', { ...base, timeoutMs: 0, breakExpired: true });
      assert.match(io.objects.get('pre/.ingot-lock') ?? '', /"owner":"next run"/);
      await lock.release();
    });
  }

  it('a live, readable lock is still not broken by --break-lock', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ingot-lock-live-'));
    const held = await new FsBackend(root).lock({ owner: 'live run', ttlMs: 60_000, timeoutMs: 0, breakExpired: false });
    await assert.rejects(new FsBackend(root).lock({ ...base, timeoutMs: 0, breakExpired: true }), (e: IngotError) => {
      assert.equal(e.code, 'INGOT_STORE_LOCKED');
      assert.match(e.message, /live run/);
      return true;
    });
    await held.release();
  });

  it('ingot sync --break-lock takes over a garbage lock from the CLI', async () => {
    const dir = tempDir('ingot-lock-cli-');
    const bytes = Buffer.from('x');
    writeFileSync(join(dir, 'x.bin'), bytes);
    writeManifest(dir, [{ name: 'x', source: { type: 'file', path: 'x.bin', checksum: sha256(bytes) }, destination: { path: 'x.bin' } }]);
    const store = join(dir, 'store');
    await runCli(['sync', '--store', store], { cwd: dir });
    writeFileSync(join(store, '.ingot-lock'), 'garbage');
    const refused = await runCli(['sync', '--store', store], { cwd: dir });
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /unreadable lock file/);
    assert.doesNotMatch(refused.stderr, /expiry at \?/);
    const taken = await runCli(['sync', '--store', store, '--break-lock'], { cwd: dir });
    assert.equal(taken.code, 0, taken.stderr);
  });
});

describe('concurrent signers', () => {
  it('regression: four concurrent `ingot sign --lock-timeout` all succeed, each writing the next version', async () => {
    const dir = tempDir('ingot-sign-concurrent-');
    const keys = join(dir, 'keys');
    assert.equal((await runCli(['keys', 'generate', '--unencrypted', '--out', keys])).code, 0);
    const store = join(dir, 'store');
    const sign = () => runCli(['sign', '--store', store, '--signing-key', join(keys, 'ingot.key'), '--lock-timeout', '120s', '--json']);
    const first = await sign();
    assert.equal(first.code, 0, first.stderr);
    assert.equal(JSON.parse(first.stdout).version, 1);
    const runs = await Promise.all([sign(), sign(), sign(), sign()]);
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    const versions = runs.map((r) => JSON.parse(r.stdout).version as number).sort((a, b) => a - b);
    assert.deepEqual(versions, [2, 3, 4, 5], 'each signer bumped the version once');
    assert.equal(JSON.parse(readFileSync(join(store, 'index.json'), 'utf8')).version, 5);
    const verified = await runCli(['verify', '--store', store]);
    assert.notEqual(verified.code, 2, verified.stderr);
  });
});
