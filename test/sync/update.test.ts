// Metadata-only changes: the `update` action rewrites metadata and re-signs the index without moving bytes.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { diskImage, runCli, sha256, tempDir, writeManifest } from '../helpers/fixtures.js';
import { startHttpsServer, type TestServer } from '../helpers/https-server.js';
import { needTool } from '../helpers/tools.js';

const body = diskImage(256 * 1024, 77);
let server: TestServer;

describe('sync: the update action', () => {
  before(async () => {
    server = await startHttpsServer({ '/talos.raw': { body } });
  });
  after(() => server.close());

  it('a family/version/compatibility edit reaches metadata and the signed index without a download', async (t) => {
    const minisign = needTool(t, 'minisign');
    if (!minisign) return;
    const dir = tempDir();
    const keys = join(dir, 'keys');
    assert.equal((await runCli(['keys', 'generate', '--unencrypted', '--out', keys])).code, 0);
    const talos = (extra: Record<string, unknown>) => ({
      name: 'talos-1.9.1',
      source: { type: 'https', url: server.url('/talos.raw'), checksum: sha256(body) },
      destination: { path: 'talos/talos-1.9.1-amd64.raw' },
      ...extra,
    });
    const initramfs = (version: string) => ({
      name: 'guest-init',
      version,
      source: { type: 'initramfs', entries: [{ type: 'file', path: 'init', content: '#!/bin/sh\necho hi\n', mode: '0755' }] },
      destination: { path: 'boot/guest-init.cpio.gz' },
    });
    const spec = { signing: { key: 'keys/ingot.key' } };
    const env = { NODE_EXTRA_CA_CERTS: server.caCertFile, SOURCE_DATE_EPOCH: '1700000000' };
    writeManifest(dir, [talos({ family: 'talos', version: '1.9.1' }), initramfs('1.0')], spec);
    const first = await runCli(['sync', '--json'], { cwd: dir, env });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(JSON.parse(first.stdout).index.version, 1);
    const store = join(dir, '.ingot', 'store');
    const metaFile = join(store, 'metadata', 'talos', 'talos-1.9.1-amd64.raw.json');
    const before = JSON.parse(readFileSync(metaFile, 'utf8'));
    const builtBefore = JSON.parse(readFileSync(join(store, 'metadata', 'boot', 'guest-init.cpio.gz.json'), 'utf8'));
    const downloads = server.count('/talos.raw', 'GET');

    // Descriptive edits only: family changes, version goes away, compatibility appears; the initramfs version moves.
    writeManifest(dir, [talos({ family: 'talos-metal', compatibility: { minAgentVersion: '1.2.0', guestInitProtocol: 2 } }), initramfs('1.1')], spec);
    const plan = await runCli(['sync', '--dry-run', '--json'], { cwd: dir, env });
    assert.equal(plan.code, 0, plan.stderr);
    const planned = JSON.parse(plan.stdout).images;
    assert.deepEqual(
      planned.map((i: { action: string }) => i.action),
      ['update', 'update'],
    );
    assert.deepEqual(planned[0].changes, [
      { field: 'family', stored: 'talos', declared: 'talos-metal' },
      { field: 'version', stored: '1.9.1' },
      { field: 'compatibility', declared: { minAgentVersion: '1.2.0', guestInitProtocol: 2 } },
    ]);
    assert.match(
      planned[0].reason,
      /^checksum matches; family: talos → talos-metal, version: 1\.9\.1 → \(none\), compatibility: \(none\) → \{"guestInitProtocol":2,"minAgentVersion":"1\.2\.0"\}$/,
    );
    assert.match(planned[1].reason, /^build inputs unchanged \(fingerprint matches\); version: 1\.0 → 1\.1$/);
    const text = await runCli(['sync', '--dry-run'], { cwd: dir, env });
    assert.match(text.stdout, /talos-1\.9\.1 +update +would update/);
    assert.match(text.stdout, /dry run: 0 to publish, 2 to update \(metadata only\), 0 up to date/);
    assert.deepEqual(JSON.parse(readFileSync(metaFile, 'utf8')), before, 'a dry run changes nothing');

    const second = await runCli(['sync', '--json'], { cwd: dir, env });
    assert.equal(second.code, 0, second.stderr);
    const result = JSON.parse(second.stdout);
    assert.deepEqual(
      result.images.map((i: { status: string }) => i.status),
      ['updated', 'updated'],
    );
    assert.equal(result.index.version, 2, 'the index is re-signed');
    assert.equal(server.count('/talos.raw', 'GET'), downloads, 'no download');
    const after = JSON.parse(readFileSync(metaFile, 'utf8'));
    assert.equal(after.family, 'talos-metal');
    assert.equal(after.version, undefined);
    assert.deepEqual(after.compatibility, { minAgentVersion: '1.2.0', guestInitProtocol: 2 });
    for (const field of ['checksum', 'sha256', 'size', 'key', 'uploadedAt', 'source']) assert.deepEqual(after[field], before[field], field);
    assert.ok(Date.parse(after.updatedAt) >= Date.parse(before.uploadedAt));
    const builtAfter = JSON.parse(readFileSync(join(store, 'metadata', 'boot', 'guest-init.cpio.gz.json'), 'utf8'));
    assert.equal(builtAfter.version, '1.1');
    assert.equal(builtAfter.uploadedAt, builtBefore.uploadedAt, 'not rebuilt');
    const index = JSON.parse(readFileSync(join(store, 'index.json'), 'utf8'));
    const entry = index.images.find((i: { path: string }) => i.path === 'talos/talos-1.9.1-amd64.raw');
    assert.equal(entry.family, 'talos-metal');
    assert.equal(entry.version, undefined);
    execFileSync(minisign, ['-Vm', join(store, 'index.json'), '-p', join(keys, 'ingot.pub')], { stdio: 'pipe' });

    // Nothing left to do; a rename is descriptive too.
    const third = await runCli(['sync', '--json'], { cwd: dir, env });
    assert.deepEqual(
      JSON.parse(third.stdout).images.map((i: { action: string }) => i.action),
      ['skip', 'skip'],
    );
    assert.equal(JSON.parse(third.stdout).index.version, 2);
    writeManifest(
      dir,
      [{ ...talos({ family: 'talos-metal', compatibility: { guestInitProtocol: 2, minAgentVersion: '1.2.0' } }), name: 'talos-metal-1.9.1' }, initramfs('1.1')],
      spec,
    );
    const renamed = await runCli(['sync'], { cwd: dir, env });
    assert.equal(renamed.code, 0, renamed.stderr);
    assert.match(renamed.stdout, /talos-metal-1\.9\.1 +update +updated .*name: talos-1\.9\.1 → talos-metal-1\.9\.1/);
    assert.doesNotMatch(renamed.stdout, /compatibility/, 'key order is not a change');
    assert.match(renamed.stdout, /0 published, 1 updated \(metadata only\), 1 up to date, 0 failed/);
    assert.equal(server.count('/talos.raw', 'GET'), downloads, 'still no download');
  });
});
