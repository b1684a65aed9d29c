/**
 * End-to-end on a debootstrapped Debian bookworm image (built once by
 * scripts/build-test-vm.sh and cached outside the repo), booted by `ingot
 * launch` under QEMU:
 *   - readonly-root with a `state` data disk made at launch and a
 *     network-config in the seed: the profile's own steps reboot into the
 *     read-only root and check it; then / is ro, /home, /var/lib and
 *     /var/log are writable on the state disk, /tmp is tmpfs, a package
 *     install is refused, runcmd ran once, the seed's network-config named
 *     the NIC and reached cloud-init's rendered interfaces;
 *   - at the same time, a runcmd that fails: exit 1 with status, detail and
 *     log tail, and the VM kept until `ingot vm delete`;
 *   - then a launch whose deadline passes, with --rm-on-failure.
 * docs/provisioning.md says what each costs.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { run, type RunResult } from '../../src/exec/run.js';
import { needTool, requireTools } from '../helpers/tools.js';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const fixtures = path.join(repoRoot, 'test/provision/fixtures/e2e');

describe('ingot launch with the qemu backend (software emulation)', { timeout: 40 * 60_000 }, () => {
  let image: string | undefined;
  let skipReason: string | undefined;
  let dir: string;
  let vms: string;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ingot-launch-e2e-'));
    vms = path.join(dir, 'vms');
    const build = await run(path.join(repoRoot, 'scripts/build-test-vm.sh'), [], { reject: false, timeoutMs: 10 * 60_000 });
    if (build.exitCode !== 0) {
      skipReason = `test VM image not available: ${build.stderr.trim().split('\n').at(-1)}`;
      if (requireTools) throw new Error(skipReason);
      return;
    }
    image = build.stdout.trim().split('\n').at(-1);
  });
  after(async () => {
    for (const name of ['e2e-ro', 'e2e-fail', 'e2e-timeout']) await ingot(['vm', 'delete', name]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  // --vms-dir goes before a `--`, after which everything is the guest command.
  const ingot = (argv: string[]): Promise<RunResult> => {
    const at = argv.includes('--') ? argv.indexOf('--') : argv.length;
    return run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/bin.ts'), ...argv.slice(0, at), '--vms-dir', vms, ...argv.slice(at)], {
      cwd: repoRoot,
      reject: false,
      timeoutMs: 25 * 60_000,
    });
  };
  const launchVm = (profile: string, extra: string[]): Promise<RunResult> =>
    ingot([
      'launch',
      profile,
      '--profiles-dir',
      fixtures,
      '--image',
      path.join(image!, 'disk.qcow2'),
      '--kernel',
      path.join(image!, 'vmlinuz'),
      '--initrd',
      path.join(image!, 'initrd.img'),
      '--memory',
      '2G',
      '--timeout',
      '1500',
      ...extra,
    ]);
  const exec = (name: string, script: string) => ingot(['vm', 'exec', name, '--', 'sh', '-c', script]);
  const tools = (t: import('node:test').TestContext) =>
    Boolean(
      needTool(t, 'qemu-system-x86_64', 'qemu-system-x86') &&
        needTool(t, 'qemu-img', 'qemu-utils') &&
        needTool(t, 'xorriso') &&
        needTool(t, 'mkfs.ext4', 'e2fsprogs'),
    );

  test('readonly-root on a state disk (rebooted and checked by its own steps); a failing runcmd keeps its VM', async (t) => {
    if (!tools(t)) return;
    if (skipReason) return t.skip(skipReason);
    const started = Date.now();
    const [ro, failed] = await Promise.all([
      launchVm('e2e-ro', ['--accel', 'auto', '--disk', 'state:512M', '--network-config', path.join(fixtures, 'network-config.yaml'), '--json']),
      launchVm('e2e-fail', ['--accel', 'tcg']),
    ]);
    t.diagnostic(`both launches (readonly-root incl. its reboot, and the failing one): ${Math.round((Date.now() - started) / 1000)} s`);

    assert.equal(ro.exitCode, 0, `launch e2e-ro failed:\n${ro.stderr}`);
    const report = JSON.parse(ro.stdout) as { cloudInit: { exitCode: number; status: string }; steps: { kind: string; name: string }[] };
    assert.equal(report.cloudInit.exitCode, 0);
    assert.deepEqual(
      report.steps.map((s) => s.kind),
      ['reboot', 'run'],
      "the profile's own steps: reboot, then its checks",
    );
    assert.match(ro.stderr, /accelerator: (tcg|kvm) \(/);
    const check = await exec(
      'e2e-ro',
      [
        'findmnt -no OPTIONS / | tr , "\\n" | grep -qx ro && echo root-ro',
        'for d in /home /var/lib /var/log; do touch "$d/.w" && rm "$d/.w" && echo "$d writable on $(findmnt -no SOURCE "$d")"; done',
        'touch /usr/.w 2>&1 || true',
        'echo "tmp $(findmnt -no FSTYPE /tmp)"',
        'echo "runs $(wc -l < /var/lib/ingot-e2e/runcmd-runs)"',
        // cloud-init renders the seed's network-config (ENI on Debian): the NIC renamed eth0, with its MTU line.
        'echo "eth0 $(cat /sys/class/net/eth0/address)"',
        'grep -x "    mtu 1400" /etc/network/interfaces.d/50-cloud-init',
        'cloud-init status',
      ].join('; '),
    );
    assert.equal(check.exitCode, 0, check.stderr);
    const out = check.stdout;
    assert.match(out, /^root-ro$/m);
    for (const d of ['/home', '/var/lib', '/var/log'])
      assert.match(out, new RegExp(`^${d} writable on /dev/vd[a-z]\\[/${d.slice(1).replace('/', '-')}\\]$`, 'm'));
    assert.match(out, /Read-only file system/, 'the root itself is not writable');
    assert.match(out, /^tmp tmpfs$/m);
    assert.match(out, /^runs 1$/m, 'runcmd ran once, across the reboot');
    assert.match(out, /^eth0 52:54:00:12:34:56$/m, 'the network-config came through the seed (NIC named by it)');
    assert.match(out, /^ {4}mtu 1400$/m, 'and rendered by cloud-init');
    assert.match(out, /^status: done$/m);
    // A package install is refused while / is read-only (a local .deb: no network needed).
    const apt = await exec(
      'e2e-ro',
      [
        'set -e; d=$(mktemp -d); mkdir -p $d/p/DEBIAN $d/p/usr/share/ingot-ro',
        'printf "Package: ingot-ro-probe\\nVersion: 1\\nArchitecture: all\\nMaintainer: ingot\\nDescription: probe\\n" > $d/p/DEBIAN/control',
        'echo x > $d/p/usr/share/ingot-ro/x; dpkg-deb --build $d/p $d/probe.deb >/dev/null',
        'if apt-get install -y $d/probe.deb > $d/out 2>&1; then echo INSTALLED; else echo REFUSED; cat $d/out; fi',
      ].join('; '),
    );
    assert.equal(apt.exitCode, 0, apt.stderr);
    assert.match(apt.stdout, /^REFUSED$/m);
    assert.match(apt.stdout, /read-only/i);

    assert.equal(failed.exitCode, 1, `launch e2e-fail should exit 1:\n${failed.stderr}`);
    assert.match(failed.stderr, /cloud-init failed on e2e-fail: status: error \(exit 1\)/);
    assert.match(failed.stderr, /Runparts: 1 failures \(runcmd\)/);
    assert.match(failed.stderr, /about to fail/, 'the tail of cloud-init-output.log is shown');
    assert.match(failed.stderr, /INGOT_CLOUD_INIT_FAILED/);
    assert.match(failed.stderr, /the VM is kept for inspection/);
    const pidfile = path.join(vms, 'e2e-fail/qemu.pid');
    assert.equal(await alive(pidfile), true, 'a failed launch keeps its VM');
    const log = await ingot(['vm', 'exec', 'e2e-fail', '--', 'grep', 'about to fail', '/var/log/cloud-init-output.log']);
    assert.match(log.stdout, /about to fail/);
    const pid = Number((await readFile(pidfile, 'utf8')).trim());
    const del = await ingot(['vm', 'delete', 'e2e-fail']);
    assert.equal(del.exitCode, 0, del.stderr);
    assert.throws(() => process.kill(pid, 0), 'vm delete ended QEMU');
    await assert.rejects(stat(path.join(vms, 'e2e-fail')));
  });

  test('a launch timeout with --rm-on-failure removes the VM', async (t) => {
    if (!tools(t)) return;
    if (skipReason) return t.skip(skipReason);
    const r = await launchVm('e2e-fail', ['--accel', 'tcg', '--timeout', '8', '--name', 'e2e-timeout', '--rm-on-failure']);
    assert.equal(r.exitCode, 1, r.stderr);
    assert.match(r.stderr, /launch of e2e-timeout timed out after 8 s/);
    assert.match(r.stderr, /INGOT_LAUNCH_TIMEOUT/);
    assert.match(r.stderr, /the VM was removed \(--rm-on-failure\)/);
    await assert.rejects(stat(path.join(vms, 'e2e-timeout')), 'nothing left behind');
  });
});

async function alive(pidfile: string): Promise<boolean> {
  if (
    !(await stat(pidfile).then(
      () => true,
      () => false,
    ))
  )
    return false;
  const pid = Number((await readFile(pidfile, 'utf8')).trim());
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
