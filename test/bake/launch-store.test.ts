/**
 * `ingot launch --image NAME --store URL --public-key FILE`, without booting
 * (--dry-run): the image and the kernel/initrd its bake metadata names are
 * pulled against the signed index into the cache and verified; the launch
 * boots the cached files with identity-only user-data; readonly-root in
 * the metadata demands a state disk; a raw bake is attached as raw.
 */
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, sha256 } from '../helpers/fixtures.js';

describe('launch --image NAME --store (a baked image from a signed store)', () => {
  let dir: string;
  let store: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ingot-bake-launch-'));
    store = path.join(dir, 'store');
    const files: Record<string, Buffer> = {
      'disk.raw': Buffer.from('baked disk bytes'),
      vmlinuz: Buffer.from('kernel bytes'),
      'initrd.img': Buffer.from('initrd bytes'),
    };
    for (const [name, bytes] of Object.entries(files)) await writeFile(path.join(dir, name), bytes);
    const image = (name: string, file: string) => ({
      name,
      source: { type: 'file', path: file, checksum: sha256(files[file]!) },
      destination: { path: `lab/${file}` },
    });
    await writeFile(
      path.join(dir, 'images.yaml'),
      JSON.stringify({
        apiVersion: 'ingot/v1alpha1',
        kind: 'ImageManifest',
        metadata: { name: 't' },
        spec: { images: [image('lab-baked', 'disk.raw'), image('lab-kernel', 'vmlinuz'), image('lab-initrd', 'initrd.img')] },
      }),
    );
    assert.equal((await runCli(['sync', '-m', path.join(dir, 'images.yaml'), '--store', store], { cwd: dir })).code, 0);
    // What a bake records about its kernel, initrd, format and readonly-root (a real bake is in bake-vm.test.ts).
    const metaFile = path.join(store, 'metadata', 'lab', 'disk.raw.json');
    const meta = JSON.parse(await readFile(metaFile, 'utf8'));
    meta.source = { type: 'bake', base: 'x', profiles: ['readonly-root'], format: 'raw', kernel: 'lab-kernel', initrd: 'lab-initrd', readonlyRoot: true };
    await writeFile(metaFile, JSON.stringify(meta));
    await mkdir(path.join(dir, 'keys'));
    assert.equal((await runCli(['keys', 'generate', '--out', path.join(dir, 'keys'), '--unencrypted'])).code, 0);
    const signed = await runCli(['sign', '--store', store, '--signing-key', path.join(dir, 'keys', 'ingot.key')]);
    assert.equal(signed.code, 0, signed.stderr);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const launch = (...extra: string[]) =>
    runCli(
      [
        'launch',
        '--image',
        'lab-baked',
        '--store',
        store,
        '--cache',
        path.join(dir, 'cache'),
        '--vms-dir',
        path.join(dir, 'vms'),
        '--set',
        'user=alice',
        '--dry-run',
        ...extra,
      ],
      { cwd: dir },
    );

  test('needs the public key: only signed images are launched', async () => {
    const r = await launch();
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--store needs --public-key FILE/);
  });

  test('readonly-root in the metadata needs a state disk', async () => {
    const r = await launch('--public-key', path.join(dir, 'keys', 'ingot.pub'));
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /baked with readonly-root: it needs a state disk/);
    assert.match(r.stderr, /--disk state:4G/);
  });

  test('pulls image, kernel and initrd verified into the cache and boots them: raw, direct kernel boot, identity only', async () => {
    const r = await launch('--public-key', path.join(dir, 'keys', 'ingot.pub'), '--disk', 'state:1G');
    assert.equal(r.code, 0, r.stderr);
    const cache = path.join(dir, 'cache');
    assert.match(r.stdout, new RegExp(`-F raw -b ${cache}/\\S*disk\\.raw`));
    assert.match(r.stdout, new RegExp(`-kernel ${cache}/\\S*vmlinuz`));
    assert.match(r.stdout, new RegExp(`-initrd ${cache}/\\S*initrd\\.img`));
    assert.match(r.stderr, /image lab-baked: (pulled|cached) \S+disk\.raw \(sha256:[0-9a-f]{64}\)/);
    assert.equal(await readFile(path.join(cache, 'vmlinuz'), 'utf8'), 'kernel bytes');
    // Identity only: the user-data the launch would boot names the user and nothing of a profile.
    assert.match(r.stdout, /user-data/);
  });
});
