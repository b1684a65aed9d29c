/**
 * Packer builds as manifest sources in a real `ingot sync`: a manifest mixing
 * a local file, a packer build and a failing packer build; the build is
 * published with its facts, the failure does not stop the others, and a
 * re-sync skips the unchanged build by its fingerprint. Plus the manifest
 * rules for packer sources.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkManifest } from '../../src/manifest/load.js';
import { needTool } from '../helpers/tools.js';
import { expectedArtifact, runMain, writeNullTemplate } from './helpers.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function manifest(images: unknown[]): string {
  return JSON.stringify({ apiVersion: 'ingot/v1alpha1', kind: 'ImageManifest', metadata: { name: 'packer-test' }, spec: { images } }, null, 2);
}

describe('packer sources in ingot sync (real packer)', () => {
  it('publishes a build beside a file, reports a failing build, and skips the unchanged build on re-sync', async (t) => {
    if (!needTool(t, 'packer')) return;
    const dir = mkdtempSync(join(tmpdir(), 'ingot-psync-'));
    writeNullTemplate(join(dir, 'packer', 'good'));
    cpSync(join(dir, 'packer', 'good'), join(dir, 'packer', 'bad'), { recursive: true });
    const plain = Buffer.from('a plain local image\n');
    writeFileSync(join(dir, 'plain.img'), plain);
    const images = [
      { name: 'plain', source: { type: 'file', path: 'plain.img', checksum: sha256(plain) }, destination: { path: 'plain/plain.img' } },
      {
        name: 'built',
        source: { type: 'packer', path: 'packer/good', artifact: 'output/disk.raw', variables: { greeting: 'from sync', api_token: 'sync-secret-9d2c' } },
        destination: { path: 'built/disk.raw' },
      },
      {
        name: 'broken',
        source: { type: 'packer', path: 'packer/bad', artifact: 'output/disk.raw', variables: { fail: 'yes' } },
        destination: { path: 'broken/disk.raw' },
      },
    ];
    writeFileSync(join(dir, 'images.yaml'), manifest(images));

    const first = await runMain(['sync', '--json'], { cwd: dir });
    assert.equal(first.code, 1, 'one image failed');
    const outcome = Object.fromEntries(JSON.parse(first.stdout).images.map((i: { name: string; status: string }) => [i.name, i.status]));
    assert.deepEqual(outcome, { plain: 'published', built: 'published', broken: 'failed' });
    assert.match(first.stderr, /\[built\].*Running local shell script/, 'build output streamed with the image name');
    assert.match(first.stderr, /build exploded on purpose/, 'the failure shows the tail of its output');
    assert.ok(!first.stderr.includes('sync-secret-9d2c') && !first.stdout.includes('sync-secret-9d2c'), 'secret never printed');

    const store = join(dir, '.ingot', 'store');
    const bytes = readFileSync(join(store, 'images', 'built', 'disk.raw'));
    assert.deepEqual(bytes, expectedArtifact('from sync'));
    const meta = JSON.parse(readFileSync(join(store, 'metadata', 'built', 'disk.raw.json'), 'utf8'));
    assert.equal(meta.checksum, sha256(bytes));
    assert.equal(meta.source.type, 'packer');
    assert.equal(meta.source.builderId, 'fnoeding.null');
    assert.match(meta.source.packerVersion, /^\d+\.\d+\.\d+/);
    assert.match(meta.source.fingerprint, /^sha256:[0-9a-f]{64}$/);
    assert.match(meta.source.templateDigest, /^sha256:[0-9a-f]{64}$/);
    assert.ok(!JSON.stringify(meta).includes('sync-secret-9d2c'));

    // Re-sync: the build's inputs are unchanged, so it is skipped without running packer.
    const second = await runMain(['sync', '--json', '--only', 'built', '--only', 'plain'], { cwd: dir });
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(
      JSON.parse(second.stdout).images.map((i: { status: string }) => i.status),
      ['skipped', 'skipped'],
    );
    assert.doesNotMatch(second.stderr, /Running local shell script/);

    // A changed variable rebuilds.
    images[1]!.source = { ...images[1]!.source, variables: { greeting: 'changed', api_token: 'sync-secret-9d2c' } } as never;
    writeFileSync(join(dir, 'images.yaml'), manifest(images));
    const third = await runMain(['sync', '--json', '--only', 'built'], { cwd: dir });
    assert.equal(third.code, 0, third.stderr);
    assert.deepEqual(
      JSON.parse(third.stdout).images.map((i: { status: string }) => i.status),
      ['published'],
    );
    assert.deepEqual(readFileSync(join(store, 'images', 'built', 'disk.raw')), expectedArtifact('changed'));
  });

  it('manifest rules: template directory, artifact path, onError: ask, variable names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ingot-prules-'));
    writeNullTemplate(join(dir, 'tpl'));
    mkdirSync(join(dir, 'empty'));
    const text = manifest([
      { name: 'empty-dir', source: { type: 'packer', path: 'empty', artifact: 'x.raw' }, destination: { path: 'a.raw' } },
      { name: 'escape', source: { type: 'packer', path: 'tpl', artifact: '../outside.raw' }, destination: { path: 'b.raw' } },
      { name: 'ask', source: { type: 'packer', path: 'tpl', artifact: 'output/disk.raw', onError: 'ask' }, destination: { path: 'c.raw' } },
      { name: 'badvar', source: { type: 'packer', path: 'tpl', artifact: 'output/disk.raw', variables: { 'not valid': 'x' } }, destination: { path: 'd.raw' } },
      { name: 'missing', source: { type: 'packer', path: 'nowhere', artifact: 'x.raw' }, destination: { path: 'f.raw' } },
      {
        name: 'fine',
        source: { type: 'packer', path: 'tpl', artifact: 'output/disk.raw', onError: 'abort', only: ['null.main'] },
        destination: { path: 'e.raw' },
      },
    ]);
    const file = join(dir, 'images.yaml');
    writeFileSync(file, text);
    const { problems } = checkManifest(text, file);
    const by = (image: string) => problems.filter((p) => p.image === image && p.severity === 'error');
    assert.ok(
      by('empty-dir').some((p) => p.code === 'source-missing' && /no \*\.pkr\.hcl/.test(p.message)),
      JSON.stringify(problems),
    );
    assert.ok(by('escape').some((p) => p.code === 'unsafe-path' && /artifact/.test(p.message)));
    assert.ok(by('ask').some((p) => /onError: ask/.test(p.message)));
    assert.ok(by('badvar').some((p) => /not a valid packer variable name/.test(p.message)));
    assert.ok(by('missing').some((p) => p.code === 'source-missing' && /not a directory/.test(p.message)));
    assert.deepEqual(by('fine'), []);
    for (const p of problems) assert.ok(p.line > 0, 'every problem has a position');
  });
});
