import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { main } from '../../src/cli/main.js';
import { needTool } from '../helpers/tools.js';

const repoRoot = path.resolve(import.meta.dirname, '../..');

/** Runs the CLI in-process and captures what it writes. */
async function ingot(argv: string[], cwd = repoRoot) {
  let stdout = '';
  let stderr = '';
  const stream = (append: (s: string) => void) => ({ write: (s: string) => (append(String(s)), true), isTTY: false }) as unknown as NodeJS.WriteStream;
  const code = await main({ argv, env: { ...process.env, INGOT_DEBUG: '' }, cwd, stdout: stream((s) => (stdout += s)), stderr: stream((s) => (stderr += s)) });
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

  test('launch --dry-run (qemu) prints every command and starts nothing', async () => {
    const r = await ingot(['launch', 'base', '--image', '/images/base.qcow2', '--kernel', '/images/vmlinuz', '--accel', 'tcg', '--ssh-port', '2222', '--work-dir', path.join(dir, 'vm'), '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /^# render base/);
    assert.ok(lines.some((l) => l.startsWith(`qemu-img create -q -f qcow2 -F qcow2 -b /images/base.qcow2 ${path.join(dir, 'vm/disk.qcow2')}`)), r.stdout);
    assert.ok(lines.some((l) => l.startsWith('xorriso -as mkisofs -quiet -V cidata -J -r')));
    const qemu = lines.find((l) => l.startsWith('qemu-system-x86_64 '));
    assert.ok(qemu);
    for (const part of ['-accel tcg', 'hostfwd=tcp:127.0.0.1:2222-:22', 'readonly=on', 'name=org.qemu.guest_agent.0', '-kernel /images/vmlinuz']) assert.ok(qemu.includes(part), part);
    assert.ok(lines.includes('guest-exec: cloud-init status --wait --long'));
  });
});
