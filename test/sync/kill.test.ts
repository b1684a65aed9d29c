import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { BIN_PATH, compress, diskImage, runCli, sha256, tempDir, writeManifest } from '../helpers/fixtures.js';
import { startHttpsServer, type TestServer } from '../helpers/https-server.js';
import { childPids, running } from '../helpers/measure.js';
import { needTool } from '../helpers/tools.js';
import { which } from '../../src/exec/which.js';
import { tempNameFor } from '../../src/util/fs-atomic.js';

const v1 = diskImage(1024 * 1024, 11);
const v2 = diskImage(8 * 1024 * 1024, 12);
let server: TestServer;
/** v2 compressed with xz (when xz is installed). */
let packed: Buffer | undefined;

const manifestFor = (body: Buffer, path: string) => [
  { name: 'disk', source: { type: 'https', url: server.url(path), checksum: sha256(body) }, destination: { path: 'disk/disk.raw' } },
];

/** Starts a sync, waits until its temporary file has bytes in it, then SIGKILLs it; returns the pids of its children at that moment. */
async function killMidPublish(dir: string, args: string[] = []): Promise<number[]> {
  const child = spawn(process.execPath, [BIN_PATH, 'sync', ...args], {
    cwd: dir,
    env: { ...process.env, NODE_EXTRA_CA_CERTS: server.caCertFile },
    stdio: 'ignore',
  });
  const imagesDir = join(dir, '.ingot', 'store', 'images', 'disk');
  const deadline = Date.now() + 30_000;
  for (;;) {
    const temp = existsSync(imagesDir) ? readdirSync(imagesDir).find((f) => f.startsWith('.ingot-tmp-')) : undefined;
    if (temp && statSync(join(imagesDir, temp)).size > 256 * 1024) break;
    if (Date.now() > deadline) throw new Error('sync never started writing');
    await sleep(20);
  }
  const children = childPids(child.pid!);
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  return children;
}

describe('a sync killed with SIGKILL', () => {
  before(async () => {
    server = await startHttpsServer({ '/v1': { body: v1 }, '/v2-slow': { body: v2, slowMs: 20 }, '/v2': { body: v2 } });
    if (which('xz')) {
      packed = compress(v2, 'xz');
      server.files.set('/v2.xz-slow', { body: packed, slowMs: 40 });
      server.files.set('/v2.xz', { body: packed });
    }
  });
  after(() => server.close());

  it('leaves no partial image and no metadata; the next run completes', async () => {
    const dir = tempDir();
    writeManifest(dir, manifestFor(v2, '/v2-slow'));
    await killMidPublish(dir);
    const store = join(dir, '.ingot', 'store');
    assert.ok(!existsSync(join(store, 'images', 'disk', 'disk.raw')), 'nothing under the final name');
    assert.ok(!existsSync(join(store, 'metadata', 'disk', 'disk.raw.json')), 'no metadata');
    const listed = await runCli(['list', '--json'], { cwd: dir });
    assert.deepEqual(JSON.parse(listed.stdout).images, [], 'list shows nothing');

    writeManifest(dir, manifestFor(v2, '/v2'));
    const r = await runCli(['sync'], { cwd: dir, env: { NODE_EXTRA_CA_CERTS: server.caCertFile } });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(sha256(readFileSync(join(store, 'images', 'disk', 'disk.raw'))), sha256(v2));
    const verified = await runCli(['verify'], { cwd: dir });
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  });

  it('during a republish leaves the previous version intact and consistent', async () => {
    const dir = tempDir();
    writeManifest(dir, manifestFor(v1, '/v1'));
    assert.equal((await runCli(['sync'], { cwd: dir, env: { NODE_EXTRA_CA_CERTS: server.caCertFile } })).code, 0);
    writeManifest(dir, manifestFor(v2, '/v2-slow'));
    await killMidPublish(dir);
    const store = join(dir, '.ingot', 'store');
    assert.equal(sha256(readFileSync(join(store, 'images', 'disk', 'disk.raw'))), sha256(v1));
    assert.equal(JSON.parse(readFileSync(join(store, 'metadata', 'disk', 'disk.raw.json'), 'utf8')).checksum, sha256(v1));
    const verified = await runCli(['verify'], { cwd: dir });
    assert.equal(verified.code, 0, verified.stdout);
  });

  it('leaves no decompressor behind, and the next sync removes the temporary file it left', async (t) => {
    if (!needTool(t, 'xz', 'xz-utils')) return;
    const dir = tempDir();
    const xzManifest = (path: string) => [
      {
        name: 'disk',
        source: { type: 'https', url: server.url(path), checksum: sha256(packed!), decompress: 'xz' },
        destination: { path: 'disk/disk.raw' },
        validation: { expected: sha256(v2) },
      },
    ];
    writeManifest(dir, xzManifest('/v2.xz-slow'));
    const children = await killMidPublish(dir, ['--decompressor', 'native']);
    assert.ok(children.length > 0, 'xz was running when ingot was killed');
    // SIGKILL runs no code in ingot: xz must end on its own (stdin EOF, stdout EPIPE).
    const deadline = Date.now() + 10_000;
    while (children.some(running) && Date.now() < deadline) await sleep(50);
    assert.deepEqual(children.filter(running), [], 'the decompressor died with ingot');
    const imagesDir = join(dir, '.ingot', 'store', 'images', 'disk');
    const left = readdirSync(imagesDir).filter((f) => f.startsWith('.ingot-tmp-'));
    assert.equal(left.length, 1, 'the killed run left its temporary file');

    writeManifest(dir, xzManifest('/v2.xz'));
    const r = await runCli(['sync'], { cwd: dir, env: { NODE_EXTRA_CA_CERTS: server.caCertFile } });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /removed 1 temporary file \(.*\) left by interrupted runs/);
    assert.deepEqual(
      readdirSync(imagesDir).filter((f) => f.startsWith('.ingot-tmp-')),
      [],
      'swept at once: its owner is dead, however fresh the file',
    );
    assert.equal(sha256(readFileSync(join(imagesDir, 'disk.raw'))), sha256(v2));
  });

  it("never removes a live run's temporary file; an unknown owner's only once it is an hour old", async () => {
    const dir = tempDir();
    writeManifest(dir, manifestFor(v1, '/v1'));
    const imagesDir = join(dir, '.ingot', 'store', 'images', 'disk');
    mkdirSync(imagesDir, { recursive: true });
    // This test process is alive: its temporary file belongs to a live run.
    const live = tempNameFor(join(imagesDir, 'disk.raw'));
    const dead = live.replace(/\.ingot-tmp-\d+-/, '.ingot-tmp-2147483646-');
    const unknownFresh = join(imagesDir, '.ingot-tmp-0123456789ab-fresh.raw');
    const unknownOld = join(imagesDir, '.ingot-tmp-ba9876543210-old.raw');
    for (const file of [live, dead, unknownFresh, unknownOld]) writeFileSync(file, 'partial');
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    utimesSync(unknownOld, twoHoursAgo, twoHoursAgo);
    const r = await runCli(['sync'], { cwd: dir, env: { NODE_EXTRA_CA_CERTS: server.caCertFile } });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const remaining = readdirSync(imagesDir)
      .filter((f) => f.startsWith('.ingot-tmp-'))
      .sort();
    assert.deepEqual(remaining, [live, unknownFresh].map((f) => f.slice(imagesDir.length + 1)).sort());
  });
});
