/**
 * Bundles as one tar stream: what goes in (modes, exec-bit rules, links kept
 * only inside the bundle) and that the archive is one GNU tar reads and
 * extracts exactly — listed with `tar -tv`, unpacked with the same flags the
 * guest uses.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { IngotError } from '../../src/errors.js';
import { bundleMode, checkLink, collectBundle, wantsExec, writeBundleTar } from '../../src/provision/launch/bundle.js';
import { BLOCK, decodeHeader, encodeHeader } from '../../src/provision/launch/tar.js';
import { needTool } from '../helpers/tools.js';

describe('bundles', () => {
  let dir: string;
  let src: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ingot-bundle-'));
    src = path.join(dir, 'bundle');
    await mkdir(path.join(src, 'scripts'), { recursive: true });
    await mkdir(path.join(src, 'certs'));
    // A *.sh without shebang and without exec bit (a Windows checkout, 000 P5).
    await writeFile(path.join(src, 'scripts/setup.sh'), 'echo setup\n');
    await chmod(path.join(src, 'scripts/setup.sh'), 0o644);
    // A script without .sh but with a shebang.
    await writeFile(path.join(src, 'scripts/health'), '#!/bin/sh\necho ok\n');
    await chmod(path.join(src, 'scripts/health'), 0o640);
    // A private key keeps its restrictive mode; set-id bits are dropped.
    await writeFile(path.join(src, 'certs/key.pem'), 'secret\n');
    await chmod(path.join(src, 'certs/key.pem'), 0o600);
    await writeFile(path.join(src, 'tool'), 'binary');
    await chmod(path.join(src, 'tool'), 0o4755);
    await writeFile(path.join(src, 'compose.yaml'), 'services: {}\n');
    await chmod(path.join(src, 'compose.yaml'), 0o644);
    await symlink('compose.yaml', path.join(src, 'docker-compose.yml'));
    await symlink('../compose.yaml', path.join(src, 'scripts/compose.link'));
    // A long path needs the ustar prefix field, a longer one a pax header.
    const deep = path.join(src, 'd'.repeat(60), 'e'.repeat(60));
    await mkdir(deep, { recursive: true });
    await writeFile(path.join(deep, 'f'.repeat(90)), 'deep\n');
    const deeper = path.join(src, 'x'.repeat(200));
    await mkdir(deeper);
    await writeFile(path.join(deeper, 'y'.repeat(120)), 'very deep\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('exec bits: *.sh and shebang files get x wherever r is set; others keep their mode', () => {
    assert.equal(wantsExec('setup.sh', Buffer.from('ec')), true);
    assert.equal(wantsExec('health', Buffer.from('#!')), true);
    assert.equal(wantsExec('notes.txt', Buffer.from('no')), false);
    assert.equal(bundleMode(0o100644, true), 0o755);
    assert.equal(bundleMode(0o100640, true), 0o750);
    assert.equal(bundleMode(0o100600, false), 0o600);
    assert.equal(bundleMode(0o104755, false), 0o755, 'setuid dropped');
  });

  test('entries: sorted, directories first, modes corrected, links kept', async () => {
    const entries = await collectBundle(src);
    const byPath = new Map(entries.map((e) => [e.path, e]));
    assert.equal(byPath.get('scripts/setup.sh')?.mode, 0o755);
    assert.equal(byPath.get('scripts/health')?.mode, 0o750);
    assert.equal(byPath.get('certs/key.pem')?.mode, 0o600);
    assert.equal(byPath.get('tool')?.mode, 0o755);
    assert.equal(byPath.get('docker-compose.yml')?.type, 'symlink');
    assert.equal(byPath.get('docker-compose.yml')?.linkname, 'compose.yaml');
    assert.ok(entries.findIndex((e) => e.path === 'scripts/') < entries.findIndex((e) => e.path === 'scripts/setup.sh'));
  });

  test('links that leave the bundle, absolute links and fifos are refused', async () => {
    assert.throws(
      () => checkLink(src, 'a/b', '../../etc/passwd'),
      (e: unknown) => e instanceof IngotError && e.code === 'INGOT_BUNDLE_INVALID' && /outside the bundle/.test(e.message),
    );
    assert.throws(() => checkLink(src, 'a', '/etc/shadow'), /absolute path \/etc\/shadow/);
    assert.doesNotThrow(() => checkLink(src, 'a/b', '../c'));
    const bad = path.join(dir, 'bad');
    await mkdir(bad);
    await symlink('/etc/hostname', path.join(bad, 'host'));
    await assert.rejects(collectBundle(bad), /absolute path/);
    const fifo = path.join(dir, 'fifo');
    await mkdir(fifo);
    execFileSync('mkfifo', [path.join(fifo, 'pipe')]);
    await assert.rejects(collectBundle(fifo), (e: unknown) => e instanceof IngotError && e.exitCode === 2 && /socket, fifo or device/.test(e.message));
    await assert.rejects(collectBundle(path.join(dir, 'missing')), /bundle not found/);
  });

  test('one file travels under the destination name', async () => {
    const [entry] = await collectBundle(path.join(src, 'scripts/setup.sh'), 'init.sh');
    assert.deepEqual([entry!.path, entry!.type, entry!.mode], ['init.sh', 'file', 0o755]);
  });

  test('headers: checksums, ustar prefix split, pax for what ustar cannot hold', () => {
    const short = decodeHeader(encodeHeader({ path: 'a/b.txt', type: 'file', mode: 0o644, size: 5, mtime: 1700000000 }));
    assert.deepEqual(short && [short.path, short.type, short.mode, short.size, short.mtime, short.checksumOk], ['a/b.txt', '0', 0o644, 5, 1700000000, true]);
    const split = `${'p'.repeat(120)}/${'n'.repeat(90)}`;
    const block = encodeHeader({ path: split, type: 'file', mode: 0o600, size: 0, mtime: 0 });
    assert.equal(block.length, BLOCK, 'prefix + name fit in one ustar header');
    assert.equal(decodeHeader(block)?.path, split);
    const pax = encodeHeader({ path: 'z'.repeat(300), type: 'symlink', mode: 0o777, size: 0, mtime: 0, linkname: 'l'.repeat(150) });
    assert.equal(decodeHeader(pax)?.type, 'x', 'a pax header comes first');
    const body = pax.subarray(BLOCK, BLOCK * 2).toString('utf8');
    assert.match(body, new RegExp(`^\\d+ path=${'z'.repeat(300)}\\n\\d+ linkpath=${'l'.repeat(150)}\\n`));
    for (const record of body.replace(/\0+$/, '').split(/(?<=\n)/))
      assert.equal(Buffer.byteLength(record), Number(record.split(' ')[0]), 'pax record lengths count themselves');
  });

  test('GNU tar lists and extracts the archive exactly (modes, links, long names)', async (t) => {
    if (!needTool(t, 'tar')) return;
    const tarFile = path.join(dir, 'bundle.tar');
    const entries = await collectBundle(src);
    const bytes = await writeBundleTar(entries, tarFile);
    assert.equal(bytes, (await stat(tarFile)).size);
    assert.equal(bytes % BLOCK, 0);
    const listing = execFileSync('tar', ['-tvf', tarFile], { encoding: 'utf8' });
    assert.match(listing, /-rwxr-xr-x root\/root .* scripts\/setup\.sh/);
    assert.match(listing, /lrwxrwxrwx root\/root .* docker-compose\.yml -> compose\.yaml/);
    const out = path.join(dir, 'out');
    await mkdir(out);
    // The flags the guest uses (backend.ts extractArgv).
    execFileSync('tar', ['-x', '--no-same-owner', '--no-overwrite-dir', '-f', tarFile, '-C', out]);
    assert.equal((await stat(path.join(out, 'scripts/setup.sh'))).mode & 0o777, 0o755);
    assert.equal((await stat(path.join(out, 'scripts/health'))).mode & 0o777, 0o750);
    assert.equal((await stat(path.join(out, 'certs/key.pem'))).mode & 0o777, 0o600);
    assert.equal((await stat(path.join(out, 'tool'))).mode & 0o7777, 0o755);
    assert.equal(await readlink(path.join(out, 'scripts/compose.link')), '../compose.yaml');
    assert.ok((await lstat(path.join(out, 'docker-compose.yml'))).isSymbolicLink());
    assert.equal(await readFile(path.join(out, 'd'.repeat(60), 'e'.repeat(60), 'f'.repeat(90)), 'utf8'), 'deep\n');
    assert.equal(await readFile(path.join(out, 'x'.repeat(200), 'y'.repeat(120)), 'utf8'), 'very deep\n');
    assert.equal(execFileSync('diff', ['-r', '--no-dereference', src, out], { encoding: 'utf8' }), '', 'same tree');
  });
});
