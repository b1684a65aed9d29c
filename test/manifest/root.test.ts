// The labctl-compatible form, manifest locations and spec.root: where relative source paths start, and that they never leave it.
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkManifest } from '../../src/manifest/load.js';
import { findGitTop } from '../../src/manifest/root.js';
import { runCli, sha256, tempDir } from '../helpers/fixtures.js';

const LABCTL = 'images.lab.gilman.io/v1alpha1';
const content = 'an image file\n';

/** A repository: .git, images/images.yaml (written by the caller), a packer template dir and a file. */
function repo(options: { git?: boolean } = {}): string {
  const dir = tempDir('ingot-root-');
  if (options.git !== false) mkdirSync(join(dir, '.git'));
  mkdirSync(join(dir, 'images'), { recursive: true });
  mkdirSync(join(dir, 'infrastructure', 'net', 'packer'), { recursive: true });
  writeFileSync(join(dir, 'infrastructure', 'net', 'packer', 'gw.pkr.hcl'), 'source "null" "main" {\n  communicator = "none"\n}\n');
  mkdirSync(join(dir, 'files'));
  writeFileSync(join(dir, 'files', 'a.txt'), content);
  return dir;
}

function manifest(apiVersion: string, extraSpec = '', filePath = 'files/a.txt'): string {
  return `apiVersion: ${apiVersion}
kind: ImageManifest
metadata:
  name: t
spec:
${extraSpec}  images:
    - name: gw
      source:
        type: packer
        path: infrastructure/net/packer
        artifact: output/gw.raw
      destination:
        path: gw/gw.raw
    - name: a
      source:
        type: file
        path: ${filePath}
        checksum: ${sha256(content)}
      destination:
        path: a/a.txt
`;
}

const errors = (text: string, file: string) => checkManifest(text, file).problems.filter((p) => p.severity === 'error');

describe('spec.root and the labctl form', () => {
  it('labctl form: paths resolve against the Git top level, found by .git (a directory or a file)', () => {
    const dir = repo();
    const file = join(dir, 'images', 'images.yaml');
    const result = checkManifest(manifest(LABCTL), file);
    assert.deepEqual(result.problems, []);
    assert.equal(result.manifest?.root, dir);
    assert.equal(result.manifest?.rootHow, "the Git repository's top level");
    assert.equal(result.manifest?.apiVersion, LABCTL);
    // A worktree or submodule has a .git file.
    const sub = tempDir('ingot-root-wt-');
    writeFileSync(join(sub, '.git'), 'gitdir: /elsewhere\n');
    mkdirSync(join(sub, 'a', 'b'), { recursive: true });
    assert.equal(findGitTop(join(sub, 'a', 'b')), sub);
  });

  it('labctl form outside a repository: a warning, and paths resolve against the manifest directory', () => {
    const dir = repo({ git: false });
    const result = checkManifest(manifest(LABCTL), join(dir, 'images', 'images.yaml'));
    const warning = result.problems.find((p) => p.severity === 'warning');
    assert.match(warning?.message ?? '', /no Git repository around the manifest/);
    assert.match(
      errors(manifest(LABCTL), join(dir, 'images', 'images.yaml'))
        .map((p) => p.message)
        .join('\n'),
      /packer path "infrastructure\/net\/packer" is not a directory \(looked for .*images\/infrastructure/,
    );
  });

  it('native form: the manifest directory, unless spec.root says otherwise', () => {
    const dir = repo();
    const file = join(dir, 'images', 'images.yaml');
    assert.match(
      errors(manifest('ingot/v1alpha1'), file)
        .map((p) => p.message)
        .join('\n'),
      /packer path .* is not a directory/,
    );
    const rooted = checkManifest(manifest('ingot/v1alpha1', '  root: ..\n'), file);
    assert.deepEqual(rooted.problems, []);
    assert.equal(rooted.manifest?.root, dir);
    assert.equal(rooted.manifest?.rootHow, 'spec.root');
  });

  it('spec.root must be relative, an ancestor of the manifest or inside it, and a directory', () => {
    const dir = repo();
    mkdirSync(join(dir, 'other'));
    const file = join(dir, 'images', 'images.yaml');
    const rootError = (root: string) => errors(manifest('ingot/v1alpha1', `  root: "${root}"\n`), file).find((p) => p.path.join('.') === 'spec.root');
    assert.match(rootError('/etc')?.message ?? '', /must be a relative directory/);
    assert.match(rootError('../other')?.message ?? '', /neither the manifest's directory, one of its parents, nor inside it/);
    assert.match(rootError('missing')?.message ?? '', /is not a directory/);
    assert.equal(rootError('../..'), undefined);
  });

  it('source paths may not leave the root: ".." is refused by validate, a symbolic link at sync', async () => {
    const dir = repo();
    const file = join(dir, 'images', 'images.yaml');
    assert.match(
      errors(manifest(LABCTL, '', '../outside.txt'), file)
        .map((p) => `${p.code} ${p.message}`)
        .join('\n'),
      /unsafe-path source path must not contain "\.\." segments/,
    );
    const outside = tempDir('ingot-outside-');
    writeFileSync(join(outside, 'secret.txt'), content);
    symlinkSync(join(outside, 'secret.txt'), join(dir, 'files', 'link.txt'));
    writeFileSync(file, manifest(LABCTL, '', 'files/link.txt'));
    const r = await runCli(['sync', '--only', 'a', '--json'], { cwd: dir });
    assert.equal(r.code, 1, r.stderr);
    const outcome = JSON.parse(r.stdout).images[0];
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.reason, /path "files\/link.txt" leads outside its root directory through a symbolic link/);
  });

  it('without -m: ./images.yaml, then ./images/images.yaml; neither is an exit 2 naming both', async () => {
    const dir = repo();
    const none = await runCli(['validate'], { cwd: dir });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no manifest: looked for \.\/images\.yaml and \.\/images\/images\.yaml/);
    const sync = await runCli(['sync', '--dry-run'], { cwd: dir });
    assert.equal(sync.code, 2);
    assert.match(sync.stderr, /no manifest: looked for \.\/images\.yaml and \.\/images\/images\.yaml/);
    writeFileSync(join(dir, 'images', 'images.yaml'), manifest(LABCTL));
    const found = await runCli(['validate', '--json'], { cwd: dir });
    assert.equal(found.code, 0, found.stderr);
    assert.match(JSON.parse(found.stdout).file, /images\/images\.yaml$/);
    writeFileSync(join(dir, 'images.yaml'), manifest('ingot/v1alpha1', '  root: .\n'));
    const first = await runCli(['validate', '--json'], { cwd: dir });
    assert.equal(JSON.parse(first.stdout).file, 'images.yaml');
  });
});
