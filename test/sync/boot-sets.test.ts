/**
 * The whole boot-set path: a kernel (file source) and an ingot-built busybox
 * initramfs synced into the store with a signed boot manifest, then the stored
 * pair booted with `ingot boot` under QEMU.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkManifest } from '../../src/manifest/load.js';
import { runCli, sha256, tempDir } from '../helpers/fixtures.js';
import { needTool, requireTools } from '../helpers/tools.js';

const INIT = `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "BOOTSET-OK-$((6 * 7))"
poweroff -f
`;

function kernelFile(t: { skip(m: string): void }): string | undefined {
  const names = readdirSync('/boot')
    .filter((n) => n.startsWith('vmlinuz-'))
    .sort();
  if (names.length === 0) {
    if (requireTools) throw new Error('no /boot/vmlinuz-* (apt-get install linux-image-amd64); INGOT_REQUIRE_TOOLS=1');
    t.skip('no kernel in /boot');
    return undefined;
  }
  return join('/boot', names.at(-1)!);
}

function manifest(kernelDigest: string, extra = ''): string {
  return `apiVersion: ingot/v1alpha1
kind: ImageManifest
metadata: { name: boot-sets }
spec:
  signing: { key: keys/ingot.key }
  images:
    - name: kernel-6
      source: { type: file, path: vmlinuz, checksum: "${kernelDigest}" }
      destination: { path: boot/vmlinuz }
    - name: guest-init
      version: 1.4.0
      source:
        type: initramfs
        version: 1.4.0
        buildId: b7
        entries:
          - { type: file, path: bin/busybox, source: busybox, mode: "0755" }
          - { type: symlink, path: bin/sh, target: busybox }
          - { type: symlink, path: bin/mount, target: busybox }
          - { type: symlink, path: bin/poweroff, target: busybox }
          - { type: file, path: init, source: init.sh, mode: "0755" }
          - { type: char, path: dev/console, major: 5, minor: 1 }
          - { type: directory, path: proc, mode: "0555" }
          - { type: directory, path: sys, mode: "0555" }
      destination: { path: boot/guest-init.img }
  bootSets:
    - name: platform
      kernel: { image: kernel-6, version: "6.1", buildId: debian, configSha256: "sha256:${'c'.repeat(64)}" }
      initramfs: { image: guest-init, guestInitProtocol: 2 }
      compatibility: { minAgentVersion: "1.2.0", supportedProtocols: [2] }
${extra}`;
}

describe('boot sets', () => {
  it('rejects references to unknown images and protocols the set does not support', () => {
    const text = manifest(sha256('x')).replace('image: guest-init, guestInitProtocol: 2', 'image: guest-int, guestInitProtocol: 3');
    const codes = checkManifest(text, '/tmp/images.yaml')
      .problems.filter((p) => p.path[1] === 'bootSets')
      .map((p) => `${p.code}@${p.line}`);
    assert.deepEqual(codes.sort(), ['schema@30', 'unknown-reference@29']);
  });

  it('syncs a kernel and an initramfs with a signed boot manifest, and the stored pair boots', async (t) => {
    const kernel = kernelFile(t);
    const busybox = needTool(t, 'busybox', 'busybox-static');
    const minisign = needTool(t, 'minisign');
    const qemu = needTool(t, 'qemu-system-x86_64', 'qemu-system-x86');
    if (!kernel || !busybox || !minisign || !qemu) return;
    const dir = tempDir();
    copyFileSync(kernel, join(dir, 'vmlinuz'));
    copyFileSync('/bin/busybox', join(dir, 'busybox'));
    writeFileSync(join(dir, 'init.sh'), INIT);
    const kernelBytes = readFileSync(join(dir, 'vmlinuz'));
    writeFileSync(join(dir, 'images.yaml'), manifest(sha256(kernelBytes)));
    assert.equal((await runCli(['keys', 'generate', '--unencrypted', '--out', join(dir, 'keys')])).code, 0);

    const r = await runCli(['sync', '--json'], { cwd: dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(
      JSON.parse(r.stdout).bootSets.map((b: { name: string; status: string }) => [b.name, b.status]),
      [['platform', 'published']],
    );
    const store = join(dir, '.ingot', 'store');
    const boot = JSON.parse(readFileSync(join(store, 'boot', 'platform.json'), 'utf8'));
    const initrd = readFileSync(join(store, 'images', 'boot', 'guest-init.img'));
    assert.equal(boot.kernel.sha256, sha256(kernelBytes).slice('sha256:'.length));
    assert.equal(boot.kernel.config_sha256, 'c'.repeat(64));
    assert.equal(boot.initramfs.sha256, sha256(initrd).slice('sha256:'.length));
    assert.equal(boot.initramfs.size_bytes, initrd.length);
    assert.equal(boot.initramfs.guest_init_version, '1.4.0');
    assert.equal(boot.initramfs.build_id, 'b7');
    assert.deepEqual(boot.compatibility, { min_agent_version: '1.2.0', supported_protocols: [2] });
    execFileSync(minisign, ['-Vm', join(store, 'boot', 'platform.json'), '-p', join(dir, 'keys', 'ingot.pub')], { stdio: 'pipe' });

    const again = await runCli(['sync', '--json'], { cwd: dir });
    assert.equal(JSON.parse(again.stdout).bootSets[0].status, 'unchanged');

    const booted = await runCli(
      [
        'boot',
        '--kernel',
        join(store, 'images', 'boot', 'vmlinuz'),
        '--initrd',
        join(store, 'images', 'boot', 'guest-init.img'),
        '--expect',
        'BOOTSET-OK-42',
        '--timeout',
        '90',
      ],
      { cwd: dir },
    );
    assert.equal(booted.code, 0, booted.stdout + booted.stderr);
  });
});
