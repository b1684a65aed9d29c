import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { diskImage, runCli, sha256, tempDir, writeManifest } from '../helpers/fixtures.js';
import { startHttpsServer, type TestServer } from '../helpers/https-server.js';
import { needTool } from '../helpers/tools.js';

const body = diskImage(200 * 1024, 31);
let server: TestServer;

describe('sync with a signing key', () => {
  before(async () => {
    server = await startHttpsServer({ '/a.img': { body } });
  });
  after(() => server.close());

  it('signs index.json after publishing (minisign verifies it); a no-change re-sync keeps the version', async (t) => {
    const minisign = needTool(t, 'minisign');
    if (!minisign) return;
    const dir = tempDir();
    const keys = join(dir, 'keys');
    const generated = await runCli(['keys', 'generate', '--unencrypted', '--out', keys]);
    assert.equal(generated.code, 0, generated.stderr);
    writeManifest(
      dir,
      [
        {
          name: 'a',
          family: 'a',
          version: '1',
          source: { type: 'https', url: server.url('/a.img'), checksum: sha256(body) },
          destination: { path: 'a/a.img' },
        },
      ],
      { signing: { key: 'keys/ingot.key', expires: '2d' } },
    );
    const env = { NODE_EXTRA_CA_CERTS: server.caCertFile };
    const first = await runCli(['sync', '--json'], { cwd: dir, env });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(JSON.parse(first.stdout).index.version, 1);
    const store = join(dir, '.ingot', 'store');
    const index = JSON.parse(readFileSync(join(store, 'index.json'), 'utf8'));
    assert.equal(index.version, 1);
    assert.ok(Math.abs(Date.parse(index.expires) - Date.now() - 2 * 86_400_000) < 60_000, 'expiry from spec.signing.expires');
    assert.deepEqual(
      index.images.map((i: { path: string; checksum: string }) => [i.path, i.checksum]),
      [['a/a.img', sha256(body)]],
    );
    execFileSync(minisign, ['-Vm', join(store, 'index.json'), '-p', join(keys, 'ingot.pub')], { stdio: 'pipe' });

    const second = await runCli(['sync', '--json'], { cwd: dir, env });
    assert.equal(JSON.parse(second.stdout).index.version, 1, 'nothing changed: same version');

    const wrong = await runCli(['sync', '--signing-key', 'keys/missing.key'], { cwd: dir, env });
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /cannot read signing key/);

    // A key pasted into the variable in the wrong form is never echoed (regression).
    const pasted = readFileSync(join(keys, 'ingot.key'), 'utf8').split('\n')[1]!;
    const env2 = await runCli(['sync'], { cwd: dir, env: { ...env, INGOT_SIGNING_KEY: pasted } });
    assert.equal(env2.code, 2);
    assert.match(env2.stderr, /INGOT_SIGNING_KEY \(neither a readable file nor a minisign secret key\)/);
    assert.ok(!(env2.stdout + env2.stderr).includes(pasted.slice(8, 40)), 'the key leaked');
  });
});
