/**
 * The qemu backend without booting: the argv it starts QEMU with, and data
 * disks made for real with mkfs.ext4 on an image file (no loop mount, no
 * root) — labelled, ext4, root-owned, sparse.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { run } from '../../src/exec/run.js';
import type { LaunchSpec } from '../../src/provision/launch/backend.js';
import { dataDiskArgv, qemuArgv, qemuPaths } from '../../src/provision/launch/qemu.js';
import { needTool } from '../helpers/tools.js';

describe('qemu backend: argv and data disks', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ingot-qemu-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const spec = (vmDir: string): LaunchSpec => ({
    name: 'vm1',
    backend: 'qemu',
    image: '/base.qcow2',
    userDataFile: `${vmDir}/user-data`,
    cpus: 2,
    memory: '2G',
    timeoutSeconds: 900,
    vmDir,
    dataDisks: [
      { name: 'state', size: '1G' },
      { name: 'scratch', size: '512M' },
    ],
  });

  test('serial console on a socket that QEMU also logs, guest agent, data disks after the seed', () => {
    const vmDir = path.join(dir, 'vm1');
    const argv = qemuArgv(spec(vmDir), 'tcg', 2200);
    const p = qemuPaths(vmDir);
    const joined = argv.join(' ');
    assert.ok(joined.includes(`-chardev socket,id=ser0,path=${p.serial},server=on,wait=off,logfile=${p.console},logappend=on -serial chardev:ser0`));
    assert.ok(!argv.includes('-no-reboot'), 'a guest reboot stays a reboot (reboot steps, package_reboot_if_required)');
    const drives = argv.flatMap((a, i) => (argv[i - 1] === '-drive' ? [a.split(',')[0]] : []));
    assert.deepEqual(drives, [`file=${p.overlay}`, `file=${p.seed}`, `file=${p.disk('state')}`, `file=${p.disk('scratch')}`]);
    assert.ok(joined.includes('hostfwd=tcp:127.0.0.1:2200-:22'));
    assert.ok(joined.includes('virtserialport,chardev=qga0,name=org.qemu.guest_agent.0'));
  });

  test('a data disk: mkfs.ext4 on an image file, labelled, root-owned, sparse', async (t) => {
    if (!needTool(t, 'mkfs.ext4', 'e2fsprogs') || !needTool(t, 'dumpe2fs', 'e2fsprogs') || !needTool(t, 'debugfs', 'e2fsprogs')) return;
    const file = path.join(dir, 'disk-state.raw');
    await run('mkfs.ext4', dataDiskArgv({ name: 'state', size: '256M' }, file), { timeoutMs: 60_000 });
    const st = await stat(file);
    assert.equal(st.size, 256 * 1024 * 1024);
    assert.ok(st.blocks * 512 < st.size / 4, 'sparse: only the metadata is written');
    const header = execFileSync('dumpe2fs', ['-h', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.match(header, /^Filesystem volume name:\s+state$/m);
    assert.match(header, /^Filesystem features:.*\bextent\b/m);
    const rootDir = execFileSync('debugfs', ['-R', 'stat /', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.match(rootDir, /User:\s+0\s+Group:\s+0/, 'the root directory belongs to root, whoever ran mkfs');
  });
});
