import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { BIN_PATH, diskImage, runCli, sha256, tempDir, writeManifest } from '../helpers/fixtures.js';
import { startHttpsServer, type TestServer } from '../helpers/https-server.js';

const v1 = diskImage(1024 * 1024, 11);
const v2 = diskImage(8 * 1024 * 1024, 12);
let server: TestServer;

const manifestFor = (body: Buffer, path: string) => [
  { name: 'disk', source: { type: 'https', url: server.url(path), checksum: sha256(body) }, destination: { path: 'disk/disk.raw' } },
];

/** Starts a sync, waits until its temporary file has bytes in it, then SIGKILLs it. */
async function killMidPublish(dir: string): Promise<void> {
  const child = spawn(process.execPath, [BIN_PATH, 'sync'], { cwd: dir, env: { ...process.env, NODE_EXTRA_CA_CERTS: server.caCertFile }, stdio: 'ignore' });
  const imagesDir = join(dir, '.ingot', 'store', 'images', 'disk');
  const deadline = Date.now() + 30_000;
  for (;;) {
    const temp = existsSync(imagesDir) ? readdirSync(imagesDir).find((f) => f.startsWith('.ingot-tmp-')) : undefined;
    if (temp && statSync(join(imagesDir, temp)).size > 256 * 1024) break;
    if (Date.now() > deadline) throw new Error('sync never started writing');
    await sleep(20);
  }
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

describe('a sync killed with SIGKILL', () => {
  before(async () => {
    server = await startHttpsServer({ '/v1': { body: v1 }, '/v2-slow': { body: v2, slowMs: 20 }, '/v2': { body: v2 } });
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
});
