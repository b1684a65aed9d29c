import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { initramfsDriver, type InitramfsSource } from '../../src/acquire/initramfs.js';
import { run } from '../../src/exec/run.js';
import { silentLogger } from '../../src/log/logger.js';
import { checkManifest } from '../../src/manifest/load.js';
import { needTool } from '../helpers/tools.js';
import { cli } from './cli.js';
import { noise, sha256, tempDir } from './fixtures.js';

const header = `apiVersion: ingot/v1alpha1
kind: ImageManifest
metadata: { name: boot }
spec:
  images:
`;

const good = `${header}    - name: guestinit
      source:
        type: initramfs
        version: 1.0.0
        buildId: 20251217a
        tree: rootfs
        entries:
          - { type: file, path: init, source: files/init.sh, mode: "0755" }
          - { type: char, path: dev/console, major: 5, minor: 1 }
          - { type: symlink, path: bin/sh, target: tool }
      destination: { path: boot/guestinit.img }
    - name: plain
      source:
        type: initramfs
        compression: none
        entries:
          - { type: file, path: hello, content: "hi\\n" }
      destination: { path: boot/plain.img }
`;

async function project(dir: string): Promise<string> {
  await fs.mkdir(path.join(dir, 'files'), { recursive: true });
  await fs.mkdir(path.join(dir, 'rootfs/bin'), { recursive: true });
  await fs.writeFile(path.join(dir, 'files/init.sh'), '#!/bin/sh\necho hello\n');
  await fs.writeFile(path.join(dir, 'rootfs/bin/tool'), noise(7, 5000));
  const file = path.join(dir, 'images.yaml');
  await fs.writeFile(file, good);
  return file;
}

function ctxFor(dir: string, image = 'guestinit') {
  return { root: dir, image, signal: new AbortController().signal, log: silentLogger, http: {}, env: { SOURCE_DATE_EPOCH: '1700000000' } };
}

describe('source.type: initramfs', () => {
  it('reports bad entries with file:line:col — missing files, escaping and absolute paths, duplicates', async (t) => {
    const dir = await tempDir(t);
    const text = `${header}    - name: bad
      source:
        type: initramfs
        tree: nothere
        entries:
          - { type: file, path: bin/x, source: missing.bin }
          - { type: file, path: ../x, content: a }
          - { type: file, path: /abs, content: a }
          - { type: fifo, path: run/p }
          - { type: directory, path: run/p }
          - { type: file, path: y, source: ../outside }
          - { type: file, path: z }
      destination: { path: boot/bad.img }
`;
    const result = checkManifest(text, path.join(dir, 'images.yaml'));
    assert.equal(result.manifest, undefined);
    const got = result.problems.map((p) => `${p.line}:${p.column} ${p.code} ${p.message}`);
    assert.deepEqual(got, [
      `9:15 source-missing directory "nothere" does not exist (looked for ${path.join(dir, 'nothere')})`,
      `11:48 source-missing file "missing.bin" does not exist (looked for ${path.join(dir, 'missing.bin')})`,
      '12:33 unsafe-path entries[1].path "../x" escapes the archive (".." segment)',
      '13:33 unsafe-path entries[2].path "/abs" is absolute; write "abs" (paths are relative to the archive root)',
      '15:38 duplicate-entry duplicate initramfs path "run/p" (first at entries[3])',
      '16:44 unsafe-path entries[5].source "../outside" must not contain ".." segments',
      '17:13 missing-field entries[6] ("z") needs exactly one of "source" or "content"',
    ]);
  });

  it('explains an unquoted mode', () => {
    const text = `${header}    - name: m
      source: { type: initramfs, entries: [{ type: fifo, path: p, mode: 0755 }] }
      destination: { path: m.img }
`;
    const [problem] = checkManifest(text, '/tmp/images.yaml').problems;
    assert.match(problem!.message, /mode: expected string, got number 755/);
  });

  it('fingerprints the inputs: stable, location-independent, sensitive to content and SOURCE_DATE_EPOCH', async (t) => {
    const a = await tempDir(t);
    const b = await tempDir(t);
    const file = await project(a);
    await project(b);
    const source = checkManifest(good, file).manifest!.images[0]!.source as InitramfsSource;
    const first = await initramfsDriver.fingerprint!(source, ctxFor(a));
    assert.match(first.value, /^sha256:[0-9a-f]{64}$/);
    assert.equal((await initramfsDriver.fingerprint!(source, ctxFor(a))).value, first.value);
    assert.equal((await initramfsDriver.fingerprint!(source, ctxFor(b))).value, first.value, 'a copy elsewhere fingerprints the same');
    const later = { ...ctxFor(a), env: { SOURCE_DATE_EPOCH: '1700000001' } };
    assert.notEqual((await initramfsDriver.fingerprint!(source, later)).value, first.value);
    await fs.appendFile(path.join(b, 'rootfs/bin/tool'), 'x');
    assert.notEqual((await initramfsDriver.fingerprint!(source, ctxFor(b))).value, first.value);
  });

  it('opens as the built bytes, the same as `ingot build initramfs` writes, with a sha256sum sidecar', async (t) => {
    const dir = await tempDir(t);
    const file = await project(dir);
    const source = checkManifest(good, file).manifest!.images[0]!.source as InitramfsSource;
    const opened = await initramfsDriver.open(source, ctxFor(dir));
    const bytes = await buffer(opened.stream);
    assert.equal(opened.facts.type, 'initramfs');
    assert.equal(opened.facts.buildId, '20251217a');

    const out = path.join(dir, 'out');
    const result = await cli(['build', 'initramfs', '-m', file, 'guestinit', '--out', out], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
    assert.equal(result.code, 0, result.stderr);
    const name = 'initramfs-guestinit-1.0.0-20251217a.img';
    assert.deepEqual((await fs.readdir(out)).sort(), [name, `${name}.sha256`]);
    const written = await fs.readFile(path.join(out, name));
    assert.equal(sha256(written), sha256(bytes));
    assert.equal(await fs.readFile(path.join(out, `${name}.sha256`), 'utf8'), `${sha256(bytes)}  ${name}\n`);
    assert.match(result.stdout, new RegExp(`^${sha256(bytes)}  `));
    if (needTool(t, 'sha256sum', 'coreutils')) await run('sha256sum', ['-c', `${name}.sha256`], { cwd: out });

    const plain = await cli(['build', 'initramfs', '-m', file, 'plain', '--out', out, '--json']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(JSON.parse(plain.stdout).file, path.join(out, 'plain.img'));
  });

  it('`ingot build initramfs` says what is wrong: unknown image, not an initramfs, bad manifest', async (t) => {
    const dir = await tempDir(t);
    const file = await project(dir);
    const unknown = await cli(['build', 'initramfs', '-m', file, 'guestinnit']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no image "guestinnit" .*; did you mean "guestinit"\?/);
    await fs.rm(path.join(dir, 'files/init.sh'));
    const missing = await cli(['build', 'initramfs', '-m', file, 'guestinit']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /images\.yaml:13:47: error: file "files\/init\.sh" does not exist/);
  });

  it('`ingot inspect` lists an image like cpio -itv, and as JSON', async (t) => {
    const dir = await tempDir(t);
    const file = await project(dir);
    const out = path.join(dir, 'out');
    assert.equal((await cli(['build', 'initramfs', '-m', file, 'guestinit', '--out', out], { env: { SOURCE_DATE_EPOCH: '1700000000' } })).code, 0);
    const img = path.join(out, 'initramfs-guestinit-1.0.0-20251217a.img');
    const text = await cli(['inspect', img]);
    assert.equal(text.code, 0, text.stderr);
    if (needTool(t, 'cpio')) {
      const gnu = await run('sh', ['-c', 'gzip -dc < "$1" | cpio -itv --quiet', 'sh', img], { extraEnv: { TZ: 'UTC', LC_ALL: 'C' } });
      assert.equal(text.stdout, gnu.stdout);
    }
    const json = JSON.parse((await cli(['inspect', img, '--json'])).stdout);
    assert.equal(json.compression, 'gzip');
    assert.deepEqual(
      json.entries.find((e: { name: string }) => e.name === 'dev/console'),
      {
        name: 'dev/console',
        type: 'char',
        mode: '0600',
        modeString: 'crw-------',
        uid: 0,
        gid: 0,
        nlink: 1,
        ino: 5,
        size: 0,
        mtime: 1700000000,
        major: 5,
        minor: 1,
      },
    );
    const notCpio = await cli(['inspect', file]);
    assert.equal(notCpio.code, 1);
    assert.match(notCpio.stderr, /not a cpio archive/);
  });
});
