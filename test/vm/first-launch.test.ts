/**
 * The first-launch example for real, on the cached Debian test image under
 * QEMU: examples/first-launch/run.sh with the artifact server down at first
 * (the pull step fails after its retries, the VM is kept, `launch --resume`
 * completes it), then the VM managed by name — exec, ssh, console, stop,
 * start again without provisioning again (same instance-id, runcmd ran
 * once, the enabled service back by itself), delete. One launch, one
 * restart: docs/provisioning.md says what it costs.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { run, type RunResult } from '../../src/exec/run.js';
import { needTool, requireTools } from '../helpers/tools.js';

const repoRoot = path.resolve(import.meta.dirname, '../..');

describe('examples/first-launch on the test image (software emulation)', { timeout: 40 * 60_000 }, () => {
  let image: string | undefined;
  let skipReason: string | undefined;
  let dir: string;
  let vms: string;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ingot-first-'));
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
    // Never leave a VM behind, whatever failed.
    await ingot(['vm', 'delete', 'first-launch']).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  const ingot = (argv: string[], input?: string): Promise<RunResult> =>
    run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/bin.ts'), ...argv, '--vms-dir', vms], {
      cwd: repoRoot,
      reject: false,
      timeoutMs: 15 * 60_000,
      ...(input !== undefined ? { input } : {}),
    });
  const exec = async (...argv: string[]) => {
    const r = await run(
      process.execPath,
      ['--import', 'tsx', path.join(repoRoot, 'src/bin.ts'), 'vm', 'exec', 'first-launch', '--vms-dir', vms, '--', ...argv],
      { cwd: repoRoot, reject: false, timeoutMs: 5 * 60_000 },
    );
    assert.equal(r.exitCode, 0, `vm exec ${argv.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };

  test('run.sh: the pull fails while the artifacts are down, the VM is kept, --resume completes it; then stop/start/console/delete', async (t) => {
    for (const [tool, pkg] of [
      ['qemu-system-x86_64', 'qemu-system-x86'],
      ['qemu-img', 'qemu-utils'],
      ['xorriso', 'xorriso'],
      ['ssh', 'openssh-client'],
      ['ssh-keygen', 'openssh-client'],
    ] as const) {
      if (!needTool(t, tool, pkg)) return;
    }
    if (skipReason) return t.skip(skipReason);
    const started = Date.now();
    const r = await run('bash', [path.join(repoRoot, 'examples/first-launch/run.sh')], {
      cwd: repoRoot,
      reject: false,
      timeoutMs: 30 * 60_000,
      extraEnv: {
        SIMULATE_OUTAGE: '1',
        KEEP: '1',
        TIMEOUT: '1800',
        VMS_DIR: vms,
        IMAGE_DIR: image!,
        INGOT: `${process.execPath} --import tsx ${path.join(repoRoot, 'src/bin.ts')}`,
      },
    });
    t.diagnostic(`run.sh (render, dry run, launch, failed pull, resume, ssh): ${Math.round((Date.now() - started) / 1000)} s`);
    assert.equal(r.exitCode, 0, `run.sh failed:\n${r.stdout}\n${r.stderr}`);
    // Phase 1: cloud-init with the unit enabled before what it requires existed.
    assert.match(r.stderr, /cloud-init: done/);
    // The outage: three attempts, then the failure keeps the VM and says how to go on.
    assert.match(
      r.stderr,
      /step 2\/5 pull release artifacts failed \(attempt 1\/3\): exit 1: pull: http:\/\/10\.0\.2\.2:\d+\/index\.html: \[Errno 111\] Connection refused; retrying in 3 s/,
    );
    assert.match(r.stderr, /error: post-launch step 2\/5 \(pull release artifacts\) failed on first-launch after 3 attempts/);
    assert.match(r.stderr, /the VM is kept for inspection .*`ingot launch --resume first-launch --vms-dir /);
    assert.match(r.stderr, /code: INGOT_POST_LAUNCH_FAILED/);
    // The resume: every step, in 000's order.
    assert.match(r.stderr, /transfer: 7 file\(s\), \d+ bytes in one tar → \/opt\/app/);
    assert.match(r.stderr, /2 file\(s\) in \/opt\/app\/images: digests ok/);
    assert.match(r.stdout, /first-launch: ready \(cloud-init status: done; 5 post-launch step\(s\) ok\)/);
    assert.match(r.stdout, /^active\nactive$/m, 'app-runtime.service and app.service');
    assert.match(r.stdout, /^v1$/m, 'read over ssh as the --set user');
    assert.match(r.stdout, /dry run: nothing was created, started or run/);

    const list = JSON.parse((await ingot(['vm', 'list', '--json'])).stdout) as { name: string; status: string; phase: string }[];
    assert.deepEqual(
      list.map((v) => [v.name, v.status, v.phase]),
      [['first-launch', 'running', 'ready']],
    );
    // What the first boot and the steps left.
    assert.equal(await exec('stat', '-c', '%a', '/opt/app/scripts/setup.sh'), '755', 'exec bit restored on a 0644 *.sh');
    assert.equal(await exec('readlink', '/opt/app/www/HELP.txt'), 'README.txt', 'the link inside the bundle kept');
    assert.equal(await exec('cat', '/proc/sys/kernel/yama/ptrace_scope'), '2');
    assert.equal(await exec('cat', '/proc/sys/fs/suid_dumpable'), '0');
    assert.match(await exec('passwd', '-S', 'root'), /^root L /, 'root password locked');
    const instanceId = await exec('cat', '/var/lib/cloud/data/instance-id');
    assert.equal((await exec('cat', '/var/lib/app/provisioned')).split('\n').length, 1);

    // The name is taken while the VM exists.
    const again = await ingot(['launch', 'examples/first-launch/app.yaml', '--name', 'first-launch', '--image', path.join(image!, 'disk.qcow2')]);
    assert.equal(again.exitCode, 2, again.stderr);
    assert.match(again.stderr, /VM first-launch already exists \(qemu, already running\)/);

    // The serial console: its log, and the socket answering a keystroke with a login prompt.
    assert.match((await ingot(['vm', 'console', 'first-launch', '--log'])).stdout, /app-vm login:/);
    const console = await ingot(['vm', 'console', 'first-launch'], '\r');
    assert.equal(console.exitCode, 0, console.stderr);
    assert.match(console.stdout, /login:/);

    // Stop, start: the overlay and seed as they were — no second provisioning.
    const pid = Number((await readFile(path.join(vms, 'first-launch/qemu.pid'), 'utf8')).trim());
    let phase = Date.now();
    const stop = await ingot(['vm', 'stop', 'first-launch']);
    assert.equal(stop.exitCode, 0, stop.stderr);
    t.diagnostic(`vm stop (clean shutdown): ${Math.round((Date.now() - phase) / 1000)} s`);
    assert.throws(() => process.kill(pid, 0), 'QEMU exited');
    assert.match((await readFile(path.join(vms, 'first-launch/console.log'), 'utf8')).slice(-2000), /reboot: Power down/, 'a clean power-off, not a kill');
    phase = Date.now();
    const start = await ingot(['vm', 'start', 'first-launch']);
    assert.equal(start.exitCode, 0, start.stderr);
    t.diagnostic(`vm start (second boot to cloud-init done): ${Math.round((Date.now() - phase) / 1000)} s`);
    assert.match(start.stdout, /first-launch: started \(cloud-init status: done\)/);
    assert.equal(await exec('cat', '/var/lib/cloud/data/instance-id'), instanceId, 'the same instance');
    assert.equal((await exec('cat', '/var/lib/app/provisioned')).split('\n').length, 1, 'runcmd did not run again');
    assert.equal(await exec('systemctl', 'is-active', 'app.service'), 'active', 'the enabled service came back by itself');
    assert.match(await exec('/opt/app/scripts/health.sh'), /healthy: v1/);

    const del = await ingot(['vm', 'delete', 'first-launch']);
    assert.equal(del.exitCode, 0, del.stderr);
    await assert.rejects(stat(path.join(vms, 'first-launch')), 'the VM directory is gone');
  });
});
