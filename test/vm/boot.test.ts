/**
 * Real boots under QEMU: an initramfs built by `ingot build initramfs` around
 * Debian's static busybox, booted with Debian's kernel by `ingot boot`. Each
 * boot costs ~6 s under TCG (more on a busy machine), so there are three:
 * one that must reach the marker, one whose expected text never appears, and
 * the KVM probe's own payload (checked under TCG, so a broken probe cannot
 * silently turn KVM hosts into TCG ones).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as os from 'node:os';
import { after, describe, it, type TestContext } from 'node:test';
import { run } from '../../src/exec/run.js';
import { supervise } from '../../src/exec/supervise.js';
import { acceleratorArgs, writeProbe } from '../../src/vm/accel.js';
import { PROBE_MARKER } from '../../src/vm/probe-payload.js';
import { hostTscKhz } from '../../src/vm/qemu-boot.js';
import { requireTools, needTool } from '../helpers/tools.js';
import { cli } from '../initramfs/cli.js';

/** Newest readable /boot/vmlinuz-*, or undefined after skipping (failing under INGOT_REQUIRE_TOOLS=1). */
export async function needKernel(t: TestContext): Promise<string | undefined> {
  const names = (await fs.readdir('/boot').catch(() => [] as string[])).filter((n) => n.startsWith('vmlinuz-')).sort();
  for (const name of names.reverse()) {
    const file = path.join('/boot', name);
    if (
      await fs.access(file, fs.constants.R_OK).then(
        () => true,
        () => false,
      )
    )
      return file;
  }
  const why = names.length ? `${names[0]} is not readable (run as root)` : 'no /boot/vmlinuz-* (apt-get install linux-image-amd64)';
  if (requireTools) throw new Error(`a kernel is required: ${why}; INGOT_REQUIRE_TOOLS=1`);
  t.skip(why);
  return undefined;
}

/** True when `file` is an ELF without an interpreter (statically linked). */
async function isStatic(file: string): Promise<boolean> {
  const elf = await fs.readFile(file);
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) return false;
  const phoff = Number(elf.readBigUInt64LE(32));
  const size = elf.readUInt16LE(54);
  const count = elf.readUInt16LE(56);
  for (let i = 0; i < count; i++) if (elf.readUInt32LE(phoff + i * size) === 3) return false; // PT_INTERP
  return true;
}

// The marker is computed in the guest, so it cannot come from an echo of the kernel command line or of /init itself.
const INIT = `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "INGOT-BOOT-$((6 * 7))-MOUNTS-$(grep -cE ' /(proc|sys|dev) ' /proc/mounts)"
poweroff -f
`;
const MARKER = 'INGOT-BOOT-42-MOUNTS-3';

const MANIFEST = `apiVersion: ingot/v1alpha1
kind: ImageManifest
metadata: { name: vm-test }
spec:
  images:
    - name: busybox-test
      source:
        type: initramfs
        version: 1.35.0
        buildId: test1
        entries:
          - { type: file, path: bin/busybox, source: busybox, mode: "0755" }
          - { type: symlink, path: bin/sh, target: busybox }
          - { type: symlink, path: bin/mount, target: busybox }
          - { type: symlink, path: bin/grep, target: busybox }
          - { type: symlink, path: bin/poweroff, target: busybox }
          - { type: file, path: init, source: init.sh, mode: "0755" }
          - { type: char, path: dev/console, major: 5, minor: 1 }
          - { type: directory, path: proc, mode: "0555" }
          - { type: directory, path: sys, mode: "0555" }
      destination: { path: boot/busybox-test.img }
`;

describe('ingot boot (real QEMU)', { concurrency: false }, () => {
  let kernel: string | undefined;
  let initrd: string | undefined;
  let dir: string | undefined;
  after(() => (dir ? fs.rm(dir, { recursive: true, force: true }) : undefined));

  it('boots an ingot-built busybox initramfs with the Debian kernel and sees the marker', async (t) => {
    if (!needTool(t, 'qemu-system-x86_64', 'qemu-system-x86')) return;
    const busybox = needTool(t, 'busybox', 'busybox-static');
    if (!busybox) return;
    kernel = await needKernel(t);
    if (!kernel) return;
    if (!(await isStatic(busybox))) {
      if (requireTools) throw new Error(`${busybox} is not statically linked: install busybox-static`);
      return t.skip(`${busybox} is dynamically linked (apt-get install busybox-static)`);
    }
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ingot-vm-'));
    await fs.copyFile(busybox, path.join(dir, 'busybox'));
    await fs.writeFile(path.join(dir, 'init.sh'), INIT);
    await fs.writeFile(path.join(dir, 'images.yaml'), MANIFEST);

    const built = await cli(['build', 'initramfs', '-m', path.join(dir, 'images.yaml'), 'busybox-test', '--out', path.join(dir, 'out'), '--json']);
    assert.equal(built.code, 0, built.stderr);
    initrd = JSON.parse(built.stdout).file as string;
    assert.equal(path.basename(initrd), 'initramfs-busybox-test-1.35.0-test1.img');

    const started = Date.now();
    const boot = await cli(['boot', '--kernel', kernel, '--initrd', initrd, '--expect', MARKER, '--timeout', '150', '--json']);
    assert.equal(boot.code, 0, `boot failed:\n${boot.stderr}`);
    const result = JSON.parse(boot.stdout);
    assert.equal(result.ok, true);
    assert.equal(result.outcome, 'expected');
    assert.ok(['kvm', 'tcg'].includes(result.accelerator));
    assert.match(result.accelReason, result.accelerator === 'kvm' ? /KVM works/ : /TCG|software emulation/);
    assert.match(boot.stderr, new RegExp(`accelerator: ${result.accelerator}`), 'it says which accelerator it used');
    t.diagnostic(`marker after ${result.matchedAfterMs} ms under ${result.accelerator}; whole command ${Date.now() - started} ms`);
    await assertNoQemuLeft();
  });

  it('fails with exit 1 and the console tail when the expected text never appears, within its timeout', async (t) => {
    if (!kernel || !initrd) return t.skip('needs the image from the previous test');
    const started = Date.now();
    const boot = await cli(['boot', '--kernel', kernel, '--initrd', initrd, '--expect', 'TEXT-THAT-NEVER-APPEARS', '--timeout', '4']);
    const elapsed = Date.now() - started;
    assert.equal(boot.code, 1);
    assert.match(boot.stderr, /boot failed under (kvm|tcg): "TEXT-THAT-NEVER-APPEARS" did not appear within 4 s/);
    assert.match(boot.stderr, /--- console \(last lines\) ---\n[\s\S]*\S[\s\S]*\n---/, 'the console tail is shown');
    assert.match(boot.stderr, /INGOT_BOOT_FAILED/);
    assert.ok(elapsed < 4000 + 2000 + 3000, `stopped within the timeout plus the kill grace (took ${elapsed} ms)`);
    await assertNoQemuLeft();
  });
});

describe('the KVM probe with a kernel', () => {
  it('has an /init (a generated static ELF) that prints the marker and powers off — checked under TCG', async (t) => {
    if (!needTool(t, 'qemu-system-x86_64', 'qemu-system-x86')) return;
    const kernel = await needKernel(t);
    if (!kernel) return;
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ingot-probe-'));
    t.after(() => fs.rm(dir, { recursive: true, force: true }));
    const { args } = await writeProbe(dir, kernel);
    // Under TCG on microvm the kernel needs the TSC rate (see qemuBootArgs); under KVM the probe does not.
    const tsc = await hostTscKhz();
    const last = args.length - 1;
    if (tsc) args[last] = `${args[last]} tsc_early_khz=${tsc}`;
    let output = '';
    const child = supervise('qemu-system-x86_64', [...acceleratorArgs('tcg'), ...args], {
      timeoutMs: 120_000,
      onOutput: (text) => (output += text),
    });
    const exit = await child.exited;
    assert.ok(output.includes(PROBE_MARKER), `no marker; console:\n${output.slice(-2000)}`);
    assert.equal(exit.timedOut, false);
    assert.equal(exit.exitCode, 0, 'the guest powered itself off');
  });
});

/** No qemu started by these tests is still running (matched on our own marker in its argv). */
async function assertNoQemuLeft(): Promise<void> {
  const ps = await run('ps', ['-eo', 'pid,args'], { reject: false });
  const ours = ps.stdout.split('\n').filter((l) => l.includes('qemu-system-x86_64') && l.includes('initramfs-busybox-test-1.35.0-test1.img'));
  assert.deepEqual(ours, []);
}
