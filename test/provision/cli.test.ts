import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { main } from '../../src/cli/main.js';
import { needTool } from '../helpers/tools.js';

const repoRoot = path.resolve(import.meta.dirname, '../..');

/** Runs the CLI in-process and captures what it writes. */
async function ingot(argv: string[], cwd = repoRoot, env: NodeJS.ProcessEnv = process.env) {
  let stdout = '';
  let stderr = '';
  const stream = (append: (s: string) => void) => ({ write: (s: string) => (append(String(s)), true), isTTY: false }) as unknown as NodeJS.WriteStream;
  const code = await main({ argv, env: { ...env, INGOT_DEBUG: '' }, cwd, stdout: stream((s) => (stdout += s)), stderr: stream((s) => (stderr += s)) });
  return { code, stdout, stderr };
}

describe('cloud-init and launch commands', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ingot-cli-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('render → validate → seed', async (t) => {
    const userData = path.join(dir, 'user-data');
    const r = await ingot(['cloud-init', 'render', 'hardening', '--set', 'user=ops', '--set', 'hostname=edge-1', '--out', userData]);
    assert.equal(r.code, 0, r.stderr);
    const text = await readFile(userData, 'utf8');
    assert.match(text, /^#cloud-config\n/);
    assert.match(text, /hostname: edge-1/);
    const v = await ingot(['cloud-init', 'validate', userData, ...(needTool(t, 'cloud-init') ? [] : ['--no-schema'])]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /valid/);
    if (!needTool(t, 'xorriso')) return;
    const a = await ingot(['cloud-init', 'seed', '--user-data', userData, '--out', path.join(dir, 'a.iso'), '--json']);
    const b = await ingot(['cloud-init', 'seed', '--user-data', userData, '--out', path.join(dir, 'b.iso'), '--json']);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(JSON.parse(a.stdout).sha256, JSON.parse(b.stdout).sha256);
  });

  test('validate reports the typo with file:line and exits 2', async () => {
    const file = path.join(dir, 'typo.yaml');
    await writeFile(file, '#cloud-config\npackagez:\n  - curl\n');
    const r = await ingot(['cloud-init', 'validate', file, '--no-schema']);
    assert.equal(r.code, 2);
    assert.match(r.stdout, /typo\.yaml:2:1: error: unknown key "packagez"; did you mean "packages"\?/);
  });

  test('render refuses an unknown --set key and a profile with identity', async () => {
    const r = await ingot(['cloud-init', 'render', 'base', '--set', 'hostnme=x']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /did you mean "hostname"/);
    await writeFile(path.join(dir, 'bad.yaml'), 'kind: Profile\ncloud-config:\n  ssh_authorized_keys: [x]\n');
    const bad = await ingot(['cloud-init', 'render', 'bad', '--profiles-dir', dir]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /"ssh_authorized_keys" is identity/);
  });

  test('launch --dry-run (qemu) prints every command, starts nothing and claims nothing', async () => {
    const vms = path.join(dir, 'vms');
    const net = path.join(dir, 'network-config');
    await writeFile(net, 'version: 2\nethernets:\n  eth0:\n    dhcp4: true\n');
    const r = await ingot([
      'launch',
      'readonly-root',
      '--image',
      '/images/base.qcow2',
      '--kernel',
      '/images/vmlinuz',
      '--accel',
      'tcg',
      '--ssh-port',
      '2222',
      '--vms-dir',
      vms,
      '--disk',
      'state:1G',
      '--disk',
      '8G',
      '--network-config',
      net,
      '--dry-run',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /^# render readonly-root .*; 2 post-launch step\(s\)/);
    const vm = path.join(vms, 'readonly-root');
    assert.ok(lines.includes(`qemu-img create -q -f qcow2 -F qcow2 -b /images/base.qcow2 ${vm}/disk.qcow2 8G`), r.stdout);
    assert.ok(lines.includes(`mkfs.ext4 -q -F -L state -E root_owner=0:0 ${vm}/disk-state.raw 1G`), 'the data disk: ext4, labelled, no loop mount');
    assert.ok(lines.some((l) => l.startsWith('xorriso -as mkisofs -quiet -V cidata -J -r') && l.includes('user-data, network-config, meta-data')));
    const qemu = lines.find((l) => l.startsWith('qemu-system-x86_64 '));
    assert.ok(qemu);
    for (const part of [
      '-accel tcg',
      'hostfwd=tcp:127.0.0.1:2222-:22',
      'readonly=on',
      'name=org.qemu.guest_agent.0',
      '-kernel /images/vmlinuz',
      `file=${vm}/disk-state.raw,if=virtio,format=raw`,
      `path=${vm}/console.sock`,
    ])
      assert.ok(qemu.includes(part), part);
    assert.ok(lines.includes('guest-exec: cloud-init status --wait --long'));
    assert.ok(lines.includes('# post-launch step 1/2 reboot (timeout 600 s, retries 0, delay 5 s)'));
    assert.equal(lines.at(-1), '# dry run: nothing was created, started or run');
    // Nothing may be reported as having happened.
    assert.doesNotMatch(r.stderr, /cloud-init: done|: ok|ready/);
    assert.match(r.stderr, /dry run \(qemu\)/);
    await assert.rejects(readFile(path.join(vm, 'vm.json')), 'no record was written');
  });

  test("--user-data FILE boots that user-data and keeps the profile's post-launch steps", async () => {
    const userData = path.join(dir, 'mine.yaml');
    await writeFile(userData, '#cloud-config\nruncmd: [echo mine]\n');
    const r = await ingot([
      'launch',
      'examples/first-launch/app.yaml',
      '--user-data',
      userData,
      '--image',
      '/images/base.qcow2',
      '--vms-dir',
      path.join(dir, 'vms2'),
      '--accel',
      'tcg',
      '--dry-run',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /# user-data from .*mine\.yaml \(profile app gives the 5 post-launch step\(s\) only\)/);
    assert.match(r.stdout, /# post-launch step 5\/5 health: \/opt\/app\/scripts\/health\.sh/);
  });

  const usage: [string, string[], RegExp][] = [
    ['a data disk name that is no label', ['--disk', 'my state:1G'], /--disk my state:1G: NAME must be/],
    ['a size that is none', ['--disk', 'state:lots'], /SIZE must look like 512M or 4G/],
    ['an --env without =', ['--env', 'FOO'], /--env expects KEY=VALUE/],
    ['a network-config without version', ['--network-config', 'package.json'], /expected a network config with version: 1 or 2/],
  ];
  for (const [name, extra, message] of usage) {
    test(`launch refuses ${name} (exit 2)`, async () => {
      const r = await ingot(['launch', 'base', '--image', '/images/base.qcow2', '--vms-dir', path.join(dir, 'vms3'), '--dry-run', ...extra]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    });
  }

  test('doctor checks multipass >= 1.16 (a stand-in multipass printing what 1.15 prints)', async () => {
    const bin = path.join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    const fake = path.join(bin, 'multipass');
    for (const [version, status] of [
      ['1.15.1', /multipass +PROBLEM +too old: 1\.15\.1, need >= 1\.16\.0/],
      ['1.16.0', /multipass +ok +multipass +1\.16\.0/],
    ] as const) {
      await writeFile(fake, `#!/bin/sh\nprintf 'multipass   ${version}\\nmultipassd  ${version}\\n'\n`);
      await chmod(fake, 0o755);
      const r = await ingot(['doctor'], repoRoot, { ...process.env, PATH: `${bin}:${process.env.PATH}` });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, status);
    }
  });

  test('vm commands on a VM that does not exist: exit 2 naming the VMs dir', async () => {
    const vms = path.join(dir, 'none');
    for (const argv of [
      ['vm', 'exec', 'ghost', '--vms-dir', vms, '--', 'true'],
      ['vm', 'stop', 'ghost', '--vms-dir', vms],
      ['launch', '--resume', 'ghost', '--vms-dir', vms],
    ]) {
      const r = await ingot(argv);
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /no VM named ghost in .*none/);
      assert.match(r.stderr, /INGOT_VM_NOT_FOUND/);
    }
    const list = await ingot(['vm', 'list', '--vms-dir', vms, '--json']);
    assert.equal(list.code, 0);
    assert.deepEqual(JSON.parse(list.stdout), []);
  });
});
