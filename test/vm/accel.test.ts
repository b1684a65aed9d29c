import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { supervise } from '../../src/exec/supervise.js';
import { acceleratorArgs, detectAccelerator } from '../../src/vm/accel.js';
import { multibootProbe, PROBE_MARKER } from '../../src/vm/probe-payload.js';
import { qemuBootArgs } from '../../src/vm/qemu-boot.js';
import { needTool } from '../helpers/tools.js';

describe('accelerator detection', () => {
  it('picks TCG without trying when the KVM device is not there, and says so', async () => {
    const decision = await detectAccelerator({ device: '/nonexistent/kvm' });
    assert.equal(decision.accelerator, 'tcg');
    assert.match(decision.reason, /\/nonexistent\/kvm is not usable \(ENOENT\)/);
  });

  it('decides by a probe boot, caches the answer per process, and explains it', async (t) => {
    if (!needTool(t, 'qemu-system-x86_64', 'qemu-system-x86')) return;
    const started = Date.now();
    const first = await detectAccelerator({ timeoutMs: 5000 });
    const took = Date.now() - started;
    assert.ok(took < 5000 + 1000 + 1000, `the probe keeps its deadline (took ${took} ms)`);
    assert.ok(first.accelerator === 'kvm' ? /KVM works/.test(first.reason) : /TCG/.test(first.reason), first.reason);
    t.diagnostic(`${first.accelerator}: ${first.reason} (${took} ms)`);
    const again = Date.now();
    assert.equal(await detectAccelerator({ timeoutMs: 5000 }), await detectAccelerator({ timeoutMs: 5000 }));
    assert.ok(Date.now() - again < 50, 'the second answer comes from the cache');
  });

  it('has a probe payload that really reaches its marker (checked under TCG, which works everywhere)', async (t) => {
    if (!needTool(t, 'qemu-system-x86_64', 'qemu-system-x86')) return;
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ingot-probe-'));
    t.after(() => fs.rm(dir, { recursive: true, force: true }));
    await fs.writeFile(path.join(dir, 'probe'), multibootProbe());
    let output = '';
    const child = supervise(
      'qemu-system-x86_64',
      [...acceleratorArgs('tcg'), '-M', 'pc', '-nodefaults', '-display', 'none', '-serial', 'stdio', '-kernel', path.join(dir, 'probe')],
      {
        timeoutMs: 20_000,
        onOutput: (text) => {
          output += text;
          if (output.includes(PROBE_MARKER)) void child.stop();
        },
      },
    );
    const exit = await child.exited;
    assert.ok(output.includes(PROBE_MARKER), `marker missing; output: ${output}`);
    assert.equal(exit.timedOut, false);
    assert.equal(exit.stopped, true);
  });
});

describe('qemu boot arguments', () => {
  it('default to microvm, 256 MiB, serial on stdio, no reboot, console=ttyS0 first', () => {
    const args = qemuBootArgs({ kernel: '/k', initrd: '/i', append: 'quiet' }, 'kvm');
    assert.deepEqual(args, [
      '-accel',
      'kvm',
      '-cpu',
      'host',
      '-M',
      'microvm',
      '-m',
      '256',
      '-nodefaults',
      '-no-user-config',
      '-display',
      'none',
      '-serial',
      'stdio',
      '-no-reboot',
      '-kernel',
      '/k',
      '-initrd',
      '/i',
      '-append',
      'console=ttyS0 panic=-1 quiet',
    ]);
  });

  it('tell the kernel the TSC rate under TCG on microvm only (its PIT calibration fails on busy hosts)', () => {
    const tcg = qemuBootArgs({ kernel: '/k', machine: 'microvm' }, 'tcg', 2_596_000);
    assert.equal(tcg.at(-1), 'console=ttyS0 panic=-1 tsc_early_khz=2596000');
    assert.equal(qemuBootArgs({ kernel: '/k', machine: 'pc' }, 'tcg', 2_596_000).at(-1), 'console=ttyS0 panic=-1');
    assert.equal(qemuBootArgs({ kernel: '/k', append: 'tsc_early_khz=1000' }, 'tcg', 2_596_000).at(-1), 'console=ttyS0 panic=-1 tsc_early_khz=1000');
    assert.deepEqual(qemuBootArgs({ kernel: '/k', machine: 'pc', memoryMiB: 512 }, 'tcg').slice(0, 6), ['-accel', 'tcg', '-M', 'pc', '-m', '512']);
  });
});
