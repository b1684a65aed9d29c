// The trust and host-side commands end to end through the CLI: the README's worked example.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { main } from '../../src/cli/main.js';
import { run } from '../../src/exec/run.js';
import { FsBackend } from '../../src/store/fs-backend.js';
import { ImageStore } from '../../src/store/image-store.js';
import { bytesFor, publish, tempDir } from './fixtures.js';
import { needTool } from '../helpers/tools.js';

async function ingot(cwd: string, env: NodeJS.ProcessEnv, ...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const stream = (sink: (s: string) => void) => ({ write: (s: string) => (sink(s), true), isTTY: false }) as unknown as NodeJS.WriteStream;
  const code = await main({ argv, env, cwd, stdout: stream((s) => (stdout += s)), stderr: stream((s) => (stderr += s)) });
  return { code, stdout, stderr };
}

test('keys generate/show, sign, pull, channel set/list/rollback, cache list/use/rollback from the CLI', async (t) => {
  const root = await tempDir(t, 'ingot-cli-');
  const storeDir = path.join(root, 'store');
  const cache = path.join(root, 'cache');
  const store = new ImageStore(new FsBackend(storeDir));
  for (const v of ['1.0.0', '1.1.0'])
    await publish(store, { path: `initramfs/initramfs-plfm-guestinit-${v}.img`, bytes: bytesFor(v, 10_000), family: 'initramfs', version: v });
  await fs.writeFile(path.join(root, 'pw'), 'hunter22 hunter22\n');
  const env = { PATH: process.env.PATH };

  // Keys: password from a file, cheap KDF for the test; the password never shows in output.
  const gen = await ingot(root, env, 'keys', 'generate', '--out', 'keys', '--password-file', 'pw', '--kdf', 'interactive', '--json');
  assert.equal(gen.code, 0, gen.stderr);
  const generated = JSON.parse(gen.stdout) as { keyId: string; publicKey: string };
  assert.equal((await ingot(root, env, 'keys', 'generate', '--out', 'keys', '--unencrypted')).code, 2, 'refuses to overwrite');
  assert.equal((await ingot(root, env, 'keys', 'generate', '--out', 'other')).code, 2, 'needs a password or --unencrypted');
  const show = await ingot(root, env, 'keys', 'show', '--public-key', 'keys/ingot.pub');
  assert.equal(show.stdout, `${generated.publicKey}\nkey id: ${generated.keyId}\n`);
  const showSecret = await ingot(root, { ...env, INGOT_SIGNING_PASSWORD: 'hunter22 hunter22' }, 'keys', 'show', '--key', 'keys/ingot.key');
  assert.equal(showSecret.stdout, show.stdout);
  assert.ok(!showSecret.stdout.includes('hunter22') && !showSecret.stderr.includes('hunter22'));

  // Sign, via INGOT_SIGNING_KEY + password file.
  const signEnv = { ...env, INGOT_SIGNING_KEY: path.join(root, 'keys/ingot.key') };
  const signed = await ingot(root, signEnv, 'sign', '--store', storeDir, '--password-file', 'pw', '--expires', '2d', '--json');
  assert.equal(signed.code, 0, signed.stderr);
  assert.deepEqual(JSON.parse(signed.stdout), { store: storeDir, version: 1, changed: true });
  if (needTool(t, 'minisign')) await run('minisign', ['-V', '-m', path.join(storeDir, 'index.json'), '-p', path.join(root, 'keys/ingot.pub')]);
  const wrongPw = await ingot(root, { ...signEnv, INGOT_SIGNING_PASSWORD: 'nope' }, 'sign', '--store', storeDir);
  assert.equal(wrongPw.code, 2);
  assert.match(wrongPw.stderr, /code: INGOT_KEY_PASSWORD/);

  // Channel and pull through it.
  const signing = ['--signing-key', 'keys/ingot.key', '--password-file', 'pw'];
  assert.equal((await ingot(root, env, 'channel', 'set', 'initramfs', 'stable', '1.0.0', '--store', storeDir, ...signing)).code, 0);
  assert.equal((await ingot(root, env, 'channel', 'set', 'initramfs', 'stable', '1.1.0', '--store', storeDir, ...signing)).code, 0);
  const pullArgs = ['--store', storeDir, '--to', cache, '--public-key', 'keys/ingot.pub'];
  const pulled = await ingot(root, env, 'pull', 'initramfs', '--channel', 'stable', ...pullArgs);
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.match(pulled.stdout, /current-initramfs -> initramfs-plfm-guestinit-1\.1\.0\.img/);
  const list = await ingot(root, env, 'channel', 'list', '--store', storeDir, '--public-key', 'keys/ingot.pub', '--history');
  assert.match(list.stdout, /initramfs\/stable {2}1\.1\.0 .*\n {4}before: 1\.0\.0/);
  assert.equal((await ingot(root, env, 'channel', 'rollback', 'initramfs', 'stable', '--store', storeDir, ...signing)).code, 0);
  const back = await ingot(root, env, 'pull', 'initramfs', '--channel', 'stable', ...pullArgs, '--json');
  assert.equal((JSON.parse(back.stdout) as { version: string }).version, '1.0.0');

  // Host-side switching.
  const cached = await ingot(root, env, 'cache', 'list', '--cache', cache, '--json');
  const families = (JSON.parse(cached.stdout) as { families: { current: string; entries: unknown[] }[] }).families;
  assert.equal(families[0]!.current, 'initramfs-plfm-guestinit-1.0.0.img');
  assert.equal(families[0]!.entries.length, 2);
  // Pull order is 1.1.0 then 1.0.0, so rolling back from 1.0.0 goes to 1.1.0, and no further.
  const rb = await ingot(root, env, 'cache', 'rollback', '--cache', cache);
  assert.equal(rb.stdout, 'current-initramfs -> initramfs-plfm-guestinit-1.1.0.img (was initramfs-plfm-guestinit-1.0.0.img)\n');
  const noMore = await ingot(root, env, 'cache', 'rollback', '--cache', cache);
  assert.equal(noMore.code, 2);
  assert.match(noMore.stderr, /code: INGOT_CACHE_NOT_FOUND/);
  const use = await ingot(root, env, 'cache', 'use', '1.0.0', '--cache', cache);
  assert.equal(use.code, 0, use.stderr);
  assert.equal(await fs.readlink(path.join(cache, 'current-initramfs')), 'initramfs-plfm-guestinit-1.0.0.img');

  // A refusal exits 1 with its code.
  const expired = await ingot(root, signEnv, 'sign', '--store', storeDir, '--password-file', 'pw', '--expires', '0.001s');
  assert.equal(expired.code, 0, expired.stderr);
  await new Promise((r) => setTimeout(r, 20));
  const refused = await ingot(root, env, 'pull', 'initramfs', '--channel', 'stable', ...pullArgs);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /code: INGOT_INDEX_EXPIRED/);
  assert.equal((await ingot(root, env, 'pull', 'initramfs', '--channel', 'stable', ...pullArgs, '--allow-expired')).code, 0);
});
