/**
 * A real network boot from `ingot serve`. `ingot sync` publishes Debian's
 * kernel and an ingot-built busybox initramfs with a signed boot set; `ingot
 * serve` (verifying with the public key) serves them; QEMU boots with
 * SeaBIOS and Debian's iPXE ROM (ipxe-qemu) over user-mode networking whose
 * DHCP boot file is the serve URL of the boot set's .ipxe script — fetched
 * from the host's loopback through the user-net gateway 10.0.2.2 over plain
 * HTTP (Debian's iPXE has no HTTPS). The guest reaches the initramfs's
 * marker on the serial console. One boot: ~20 s under TCG.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { supervise } from '../../src/exec/supervise.js';
import { acceleratorArgs, detectAccelerator } from '../../src/vm/accel.js';
import { runCli, sha256, tempDir } from '../helpers/fixtures.js';
import { needTool, requireTools } from '../helpers/tools.js';
import { startServe } from './serve-process.js';

const ROM = '/usr/lib/ipxe/qemu/efi-virtio.rom';
const MARKER = 'NETBOOT-OK-42';

// The marker is computed in the guest, so it cannot be an echo of the script or the command line.
const INIT = `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "NETBOOT-OK-$((6 * 7))"
poweroff -f
`;

function manifest(kernelDigest: string): string {
  return `apiVersion: ingot/v1alpha1
kind: ImageManifest
metadata: { name: netboot }
spec:
  signing: { key: keys/ingot.key }
  images:
    - name: kernel
      source: { type: file, path: vmlinuz, checksum: "${kernelDigest}" }
      destination: { path: boot/vmlinuz }
    - name: guest-init
      version: 1.0.0
      source:
        type: initramfs
        version: 1.0.0
        buildId: nb1
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
    - name: lab
      kernel: { image: kernel, version: "6.1", buildId: debian, configSha256: "sha256:${'c'.repeat(64)}" }
      initramfs: { image: guest-init, guestInitProtocol: 1 }
      compatibility: { minAgentVersion: "1.0.0", supportedProtocols: [1] }
`;
}

describe('network boot from ingot serve (QEMU + iPXE)', () => {
  it('boots the boot set kernel + initramfs over HTTP and reaches the marker', async (t) => {
    const qemu = needTool(t, 'qemu-system-x86_64', 'qemu-system-x86');
    const busybox = needTool(t, 'busybox', 'busybox-static');
    if (!qemu || !busybox) return;
    if (!existsSync(ROM)) {
      if (requireTools) throw new Error(`${ROM} is missing (apt-get install ipxe-qemu); INGOT_REQUIRE_TOOLS=1`);
      return t.skip('ipxe-qemu not installed');
    }
    const kernels = readdirSync('/boot')
      .filter((n) => n.startsWith('vmlinuz-'))
      .sort();
    if (kernels.length === 0) {
      if (requireTools) throw new Error('no /boot/vmlinuz-* (apt-get install linux-image-amd64); INGOT_REQUIRE_TOOLS=1');
      return t.skip('no kernel in /boot');
    }
    const dir = tempDir('ingot-netboot-');
    copyFileSync(path.join('/boot', kernels.at(-1)!), path.join(dir, 'vmlinuz'));
    copyFileSync(busybox, path.join(dir, 'busybox'));
    writeFileSync(path.join(dir, 'init.sh'), INIT);
    writeFileSync(path.join(dir, 'images.yaml'), manifest(sha256(readFileSync(path.join(dir, 'vmlinuz')))));
    assert.equal((await runCli(['keys', 'generate', '--unencrypted', '--out', path.join(dir, 'keys')])).code, 0);
    const synced = await runCli(['sync'], { cwd: dir });
    assert.equal(synced.code, 0, synced.stdout + synced.stderr);

    const serve = await startServe([
      '--store',
      path.join(dir, '.ingot', 'store'),
      '--public-key',
      path.join(dir, 'keys', 'ingot.pub'),
      '--boot-args',
      'console=ttyS0 panic=-1',
    ]);
    try {
      const port = new URL(serve.url).port;
      const { accelerator, reason } = await detectAccelerator({ qemu });
      t.diagnostic(`accelerator: ${accelerator} (${reason})`);
      // SeaBIOS prints to the serial port too (etc/sercon-port = 0x3f8), so iPXE's progress is in the console log.
      writeFileSync(path.join(dir, 'sercon-port'), Buffer.from([0xf8, 0x03]));
      let console = '';
      let reached = false;
      const started = Date.now();
      const vm = supervise(
        qemu,
        [
          ...acceleratorArgs(accelerator),
          '-M',
          'pc',
          '-m',
          '256',
          '-nodefaults',
          '-display',
          'none',
          '-serial',
          'stdio',
          '-no-reboot',
          '-fw_cfg',
          `name=etc/sercon-port,file=${path.join(dir, 'sercon-port')}`,
          '-netdev',
          `user,id=n0,bootfile=http://10.0.2.2:${port}/boot/lab.ipxe`,
          // Debian's ROM carries the modern virtio-net id (1af4:1041): a legacy-free device, or SeaBIOS skips the ROM.
          '-device',
          `virtio-net-pci,netdev=n0,disable-legacy=on,romfile=${ROM}`,
          '-boot',
          'n',
        ],
        {
          timeoutMs: 300_000,
          onOutput: (text) => {
            console = (console + text).slice(-200_000);
            if (!reached && console.includes(MARKER)) {
              reached = true;
              void vm.stop();
            }
          },
        },
      );
      const exit = await vm.exited;
      writeFileSync(path.join(dir, 'console.log'), console);
      assert.ok(reached, `the marker never appeared (timed out: ${exit.timedOut}); console tail:\n${console.slice(-3000)}`);
      t.diagnostic(`marker after ${Date.now() - started} ms`);
      assert.match(console, /iPXE/, 'iPXE ran');
      assert.match(console, /Filename: http:\/\/10\.0\.2\.2:\d+\/boot\/lab\.ipxe/);
      // The kernel prints its command line twice; the early serial console may drop characters from one of them.
      assert.ok(console.includes('initrd=initrd.img console=ttyS0'), 'the kernel got the boot arguments from the script');
      const ipxe = serve.accessLog.filter((l) => / "iPXE\//.test(l));
      assert.deepEqual(
        ipxe.map((l) => /"GET (\S+) HTTP\/1\.1" (\d+)/.exec(l)?.slice(1).join(' ')),
        ['/boot/lab.ipxe 200', '/images/boot/vmlinuz 200', '/images/boot/guest-init.img 200'],
        'iPXE fetched the script, then the kernel and the initramfs, from serve',
      );
    } finally {
      await serve.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
