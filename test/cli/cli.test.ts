import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/fixtures.js';

describe('CLI frame', () => {
  it('--help lists every command; no command is a usage error', async () => {
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    for (const name of ['validate', 'sync', 'list', 'prune', 'verify', 'init', 'schema', 'doctor']) assert.match(help.stdout, new RegExp(`^  ${name} `, 'm'));
    const none = await runCli([]);
    assert.equal(none.code, 2);
  });

  it('command --help shows usage and every option', async () => {
    const r = await runCli(['sync', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: ingot sync/);
    for (const flag of ['--dry-run', '--force', '--concurrency N', '--only NAME', '--store URL', '--json', '--log-format'])
      assert.ok(r.stdout.includes(flag), flag);
  });

  it('doctor reports installed and missing tools', async () => {
    const r = await runCli(['doctor', '--json'], { env: { PATH: '/usr/bin:/bin' } });
    assert.equal(r.code, 0);
    const data = JSON.parse(r.stdout);
    const xz = data.tools.find((t: { tool: string }) => t.tool === 'xz');
    assert.equal(xz.found, true);
    assert.match(xz.version, /xz/i);
    const multipass = data.tools.find((t: { tool: string }) => t.tool === 'multipass');
    assert.equal(multipass.found, false);
  });

  it('errors carry a code and a hint, and --json puts them on stdout', async () => {
    const r = await runCli(['list', '--store', 'ftp://nowhere', '--json']);
    assert.equal(r.code, 2);
    assert.equal(JSON.parse(r.stdout).error.code, 'INGOT_STORE_URL');
    assert.match(r.stderr, /hint: use a directory path/);
  });

  it('the package entry point exports the library API', async () => {
    const api = await import('../../src/index.js');
    for (const name of ['loadManifest', 'runSync', 'ImageStore', 'openBackend', 'download', 'signStoreIndex', 'pull', 'buildInitramfs', 'launch']) {
      assert.equal(typeof (api as Record<string, unknown>)[name], 'function', name);
    }
    const { manifest, problems } = api.checkManifest(
      'apiVersion: ingot/v1alpha1\nkind: ImageManifest\nmetadata: { name: x }\nspec: { images: [] }\n',
      '/tmp/images.yaml',
    );
    assert.deepEqual(problems, []);
    assert.equal(manifest?.images.length, 0);
  });
});
