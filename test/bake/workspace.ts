/**
 * A bake workspace on the project's cached test image (scripts/build-test-vm.sh):
 * the image's disk, kernel and initrd linked (or copied) beside a manifest
 * as `file` sources with their digests, a small profile, a failing one and
 * the shipped readonly-root, a store directory and an unencrypted signing
 * key the sync signs the store's index with (`launch --image NAME --store`
 * pulls only from a signed index).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { run } from '../../src/exec/run.js';
import { runCli } from '../helpers/fixtures.js';

const repoRoot = path.resolve(import.meta.dirname, '../..');

/** Builds (or reuses) the cached test VM image; its directory, or an error line. */
export async function testImage(): Promise<{ dir: string } | { error: string }> {
  const build = await run(path.join(repoRoot, 'scripts/build-test-vm.sh'), [], { reject: false, timeoutMs: 15 * 60_000 });
  if (build.exitCode !== 0) return { error: `test VM image not available: ${build.stderr.trim().split('\n').at(-1)}` };
  return { dir: build.stdout.trim().split('\n').at(-1)! };
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 22 })) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/** A small profile: a file, an enabled unit, a sysctl (no network needed). */
export const TINY_PROFILE = `kind: Profile
name: tiny
description: a file, an enabled unit and a sysctl; needs no network
cloud-config:
  write_files:
    - path: /etc/tiny-baked
      permissions: '0644'
      content: |
        baked by ingot
  runcmd:
    - echo "tiny runcmd ran" >/var/lib/tiny-runcmd
sysctl:
  vm.swappiness: 10
units:
  - name: tiny.service
    enable: true
    content: |
      [Unit]
      Description=tiny baked service
      [Service]
      Type=oneshot
      RemainAfterExit=yes
      ExecStart=/bin/true
      [Install]
      WantedBy=multi-user.target
`;

/** A profile whose step fails, with a marker in its output. */
export const BROKEN_PROFILE = `kind: Profile
name: broken
description: a runcmd that fails
cloud-config:
  runcmd:
    - echo "broken: about to fail (marker 7f3a)"
    - "false"
`;

export interface Workspace {
  dir: string;
  manifest: string;
  store: string;
  /** The public half of the key the sync signs index.json with. */
  publicKey: string;
}

/** Writes the workspace into `dir`; `images` are the bake images (the base images come first). */
export async function writeWorkspace(dir: string, imageDir: string, bakes: Record<string, unknown>[]): Promise<Workspace> {
  await mkdir(path.join(dir, 'base'), { recursive: true });
  await mkdir(path.join(dir, 'profiles'), { recursive: true });
  const files = { disk: 'disk.qcow2', kernel: 'vmlinuz', initrd: 'initrd.img' } as const;
  const digests: Record<string, string> = {};
  for (const [role, name] of Object.entries(files)) {
    const dest = path.join(dir, 'base', name);
    await link(path.join(imageDir, name), dest).catch(() => copyFile(path.join(imageDir, name), dest));
    digests[role] = await sha256File(dest);
  }
  await mkdir(path.join(dir, 'keys'), { recursive: true });
  const keys = await runCli(['keys', 'generate', '--out', path.join(dir, 'keys'), '--unencrypted']);
  if (keys.code !== 0) throw new Error(`keys generate failed: ${keys.stderr}`);
  await writeFile(path.join(dir, 'profiles', 'tiny.yaml'), TINY_PROFILE);
  await writeFile(path.join(dir, 'profiles', 'broken.yaml'), BROKEN_PROFILE);
  await copyFile(path.join(repoRoot, 'profiles', 'readonly-root.yaml'), path.join(dir, 'profiles', 'readonly-root.yaml'));
  const base = (name: string, role: keyof typeof files) => ({
    name,
    source: { type: 'file', path: `base/${files[role]}`, checksum: digests[role] },
    destination: { path: `test-vm/${files[role]}` },
  });
  const manifest = path.join(dir, 'images.yaml');
  const doc = {
    apiVersion: 'ingot/v1alpha1',
    kind: 'ImageManifest',
    metadata: { name: 'bake-test' },
    spec: {
      store: { url: 'store' },
      signing: { key: 'keys/ingot.key' },
      images: [base('test-vm-disk', 'disk'), base('test-vm-kernel', 'kernel'), base('test-vm-initrd', 'initrd'), ...bakes],
    },
  };
  await writeFile(manifest, JSON.stringify(doc, null, 2));
  return { dir, manifest, store: path.join(dir, 'store'), publicKey: path.join(dir, 'keys', 'ingot.pub') };
}

/** The source fields every test bake shares: the test image's disk, direct kernel boot. */
export const ON_TEST_IMAGE = { type: 'bake', base: 'test-vm-disk', kernel: 'test-vm-kernel', initrd: 'test-vm-initrd' } as const;
