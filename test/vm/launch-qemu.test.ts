/**
 * End-to-end: a debootstrapped Debian bookworm image (built once by
 * scripts/build-test-vm.sh and cached outside the repo) booted by `ingot
 * launch` under QEMU with rendered profiles — one that must come up ready,
 * one whose runcmd fails — both at once (2 GiB each), then a launch whose
 * deadline passes. docs/provisioning.md says what it costs.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { run, type RunResult } from '../../src/exec/run.js';
import { GuestAgent } from '../../src/provision/launch/guest-agent.js';
import { needTool, requireTools } from '../helpers/tools.js';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const fixtures = path.join(repoRoot, 'test/provision/fixtures/e2e');

describe('ingot launch with the qemu backend (software emulation)', { timeout: 15 * 60_000 }, () => {
  let image: string | undefined;
  let skipReason: string | undefined;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ingot-launch-e2e-'));
    const build = await run(path.join(repoRoot, 'scripts/build-test-vm.sh'), [], { reject: false, timeoutMs: 10 * 60_000 });
    if (build.exitCode !== 0) {
      skipReason = `test VM image not available: ${build.stderr.trim().split('\n').at(-1)}`;
      if (requireTools) throw new Error(skipReason);
      return;
    }
    image = build.stdout.trim().split('\n').at(-1);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const launchVm = (profile: string, extra: string[]): Promise<RunResult> =>
    run(process.execPath, [
      '--import', 'tsx', path.join(repoRoot, 'src/bin.ts'), 'launch', profile,
      '--profiles-dir', fixtures,
      '--image', path.join(image!, 'disk.qcow2'),
      '--kernel', path.join(image!, 'vmlinuz'),
      '--initrd', path.join(image!, 'initrd.img'),
      '--work-dir', path.join(dir, profile),
      '--memory', '2G',
      '--timeout', '480',
      ...extra,
    ], { cwd: repoRoot, reject: false, timeoutMs: 10 * 60_000 });

  const tools = (t: import('node:test').TestContext) =>
    Boolean(needTool(t, 'qemu-system-x86_64', 'qemu-system-x86') && needTool(t, 'qemu-img', 'qemu-utils') && needTool(t, 'xorriso'));

  test('a good profile is ready (cloud-init 0, marker read through the guest agent); a failing runcmd exits 1', async (t) => {
    if (!tools(t)) return;
    if (skipReason) return t.skip(skipReason);
    const started = Date.now();
    const [ok, failed] = await Promise.all([
      // No --stop: the CLI must exit on its own and leave the VM running.
      launchVm('e2e-ok', ['--accel', 'auto', '--read', '/var/lib/ingot-e2e/marker', '--read', '/var/lib/ingot-e2e/bundle-ran', '--json']),
      launchVm('e2e-fail', ['--accel', 'tcg']),
    ]);
    t.diagnostic(`both VMs: ${Math.round((Date.now() - started) / 1000)} s`);

    assert.equal(ok.exitCode, 0, `launch e2e-ok failed:\n${ok.stderr}`);
    const report = JSON.parse(ok.stdout) as { ready: boolean; cloudInit: { exitCode: number; status: string }; files: Record<string, string>; stopped: boolean; info: { sshPort: number } };
    assert.equal(report.ready, true);
    assert.equal(report.cloudInit.exitCode, 0);
    assert.equal(report.cloudInit.status, 'done');
    // Written by the profile's runcmd from a write_files file, after the sysctl part was applied.
    assert.equal(report.files['/var/lib/ingot-e2e/marker'], 'marker base\nswappiness=10\n');
    // The bundle script is 0644 in the repo; it ran after transfer because its exec bit was restored.
    assert.equal(report.files['/var/lib/ingot-e2e/bundle-ran'], 'bundle script ran\n');
    assert.match(ok.stderr, /accelerator: (tcg|kvm) \(/);
    assert.equal(report.stopped, false);
    const pidfile = path.join(dir, 'e2e-ok/qemu.pid');
    assert.equal(await alive(pidfile), true, 'the launched VM keeps running after `ingot launch` exits');
    try {
      // The CLI released the guest agent: a new client can talk to it.
      const agent = await GuestAgent.connect(path.join(dir, 'e2e-ok/qga.sock'), { deadline: Date.now() + 60_000 });
      assert.equal((await agent.readFile('/var/lib/ingot-e2e/marker')).toString(), 'marker base\nswappiness=10\n');
      agent.close();
      // The SSH port forward reaches the guest's sshd.
      assert.match(await firstLine(report.info.sshPort), /^SSH-2\.0-OpenSSH/);
      // A second launch into the same work dir must not touch the running VM's overlay.
      const again = await launchVm('e2e-ok', ['--accel', 'tcg']);
      assert.equal(again.exitCode, 2, again.stderr);
      assert.match(again.stderr, /already running/);
    } finally {
      process.kill(Number((await readFile(pidfile, 'utf8')).trim()), 'SIGTERM');
    }

    assert.equal(failed.exitCode, 1, `launch e2e-fail should exit 1:\n${failed.stderr}`);
    assert.match(failed.stderr, /cloud-init failed on e2e-fail: status: error \(exit 1\)/);
    assert.match(failed.stderr, /Runparts: 1 failures \(runcmd\)/);
    assert.match(failed.stderr, /about to fail/, 'the tail of cloud-init-output.log is shown');
    assert.match(failed.stderr, /\/var\/log\/cloud-init-output\.log/);
    assert.match(failed.stderr, /INGOT_CLOUD_INIT_FAILED/);
    assert.equal(await alive(path.join(dir, 'e2e-fail/qemu.pid')), false, 'a failed launch ends the VM');
  });

  test('a launch timeout ends the VM', async (t) => {
    if (!tools(t)) return;
    if (skipReason) return t.skip(skipReason);
    const r = await launchVm('e2e-ok', ['--accel', 'tcg', '--timeout', '8', '--name', 'e2e-timeout', '--work-dir', path.join(dir, 'timeout')]);
    assert.equal(r.exitCode, 1, r.stderr);
    assert.match(r.stderr, /INGOT_LAUNCH_TIMEOUT/);
    assert.equal(await alive(path.join(dir, 'timeout/qemu.pid')), false, 'the VM was ended');
  });
});

function firstLine(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setTimeout(30_000, () => socket.destroy(new Error('no SSH banner within 30 s')));
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      if (data.includes('\n')) {
        socket.destroy();
        resolve(data.split('\n')[0]!.trim());
      }
    });
    socket.on('error', reject);
  });
}

async function alive(pidfile: string): Promise<boolean> {
  if (!(await stat(pidfile).then(() => true, () => false))) return false;
  const pid = Number((await readFile(pidfile, 'utf8')).trim());
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
