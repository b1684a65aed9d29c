// The static catalogue: `ingot catalogue --out` and `ingot sync --catalogue`, the same page and JSON as serve, as files.
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli, sha256 } from '../helpers/fixtures.js';
import { bytesFor, tempDir } from '../cache/fixtures.js';
import { catalogueStore } from './fixtures.js';

const cleanups: (() => Promise<void>)[] = [];
const t = { after: (fn: () => Promise<void>) => void cleanups.push(fn) };
after(async () => {
  for (const fn of cleanups) await fn();
});

describe('static catalogue', () => {
  it('ingot catalogue writes index.html and catalogue.json; links follow --object-base', async () => {
    const fx = await catalogueStore(t);
    const root = path.join(fx.dir, 'store');
    const r = await runCli(['catalogue', '--store', root, '--out', root, '--public-key', fx.publicKeyFile, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).files, ['catalogue.json', 'index.html']);
    const page = await fs.readFile(path.join(root, 'index.html'), 'utf8');
    const json = JSON.parse(await fs.readFile(path.join(root, 'catalogue.json'), 'utf8'));
    assert.equal(json.index.signature.status, 'verified');
    assert.deepEqual(
      json.families.map((f: { name: string }) => f.name),
      ['talos', 'vyos'],
    );
    assert.match(page, /href="images\/talos\/talos-1\.9\.1-amd64\.raw"/, 'relative links for a page at the store root');
    assert.match(page, /href="catalogue\.json"/);
    assert.ok(!page.includes('.ipxe'), 'no iPXE links without a server');
    // The page in the store root is not a store object: serve, list and mirror ignore it.
    const listed = await runCli(['list', '--store', root, '--json']);
    assert.equal(JSON.parse(listed.stdout).images.length, fx.published.size);

    const cdn = path.join(fx.dir, 'site');
    assert.equal((await runCli(['catalogue', '--store', root, '--out', cdn, '--object-base', 'https://images.example.net/lab'])).code, 0);
    assert.match(
      await fs.readFile(path.join(cdn, 'index.html'), 'utf8'),
      /href="https:\/\/images\.example\.net\/lab\/images\/talos\/talos-1\.9\.1-amd64\.raw"/,
    );
  });

  it('ingot sync --catalogue writes the page after the run, verified with the signing key', async () => {
    const dir = await tempDir(t, 'ingot-static-');
    const disk = bytesFor('disk', 50_000);
    await fs.writeFile(path.join(dir, 'disk.raw'), disk);
    await fs.writeFile(
      path.join(dir, 'images.yaml'),
      `apiVersion: ingot/v1alpha1
kind: ImageManifest
metadata: { name: static }
spec:
  signing: { key: keys/ingot.key }
  images:
    - name: disk
      family: disks
      version: 1.0.0
      source: { type: file, path: disk.raw, checksum: "${sha256(disk)}" }
      destination: { path: disks/disk.raw }
`,
    );
    assert.equal((await runCli(['keys', 'generate', '--unencrypted', '--out', path.join(dir, 'keys')])).code, 0);
    const r = await runCli(['sync', '--catalogue', 'site'], { cwd: dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const json = JSON.parse(await fs.readFile(path.join(dir, 'site', 'catalogue.json'), 'utf8'));
    assert.equal(json.index.signature.status, 'verified');
    assert.equal(json.families[0].images[0].checksum, sha256(disk));
    assert.match(await fs.readFile(path.join(dir, 'site', 'index.html'), 'utf8'), /data-signature="verified"/);
    const dry = await runCli(['sync', '--dry-run', '--catalogue', 'site-dry'], { cwd: dir });
    assert.equal(dry.code, 0);
    await assert.rejects(fs.stat(path.join(dir, 'site-dry')), 'a dry run writes no catalogue');
  });
});
