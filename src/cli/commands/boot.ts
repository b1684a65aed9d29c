/** `ingot boot --kernel K --initrd I …`: boots under QEMU (KVM if a probe says it works, else TCG) and watches the serial console. */
import * as path from 'node:path';
import { ErrorCode, ExitCode, IngotError, UsageError } from '../../errors.js';
import { MACHINES, bootKernel, type Machine } from '../../vm/qemu-boot.js';
import { bool, str, type Command } from '../command.js';

export const command: Command = {
  name: 'boot',
  summary: 'Boot a kernel + initramfs under QEMU and wait for text on the serial console',
  usage: 'boot --kernel FILE [--initrd FILE] [--append ARGS] [--machine microvm|pc] [--memory MIB] [--timeout S] [--expect TEXT]',
  description: [
    'Uses KVM when a short probe boot under KVM works, software emulation (TCG) otherwise, and says which.',
    'Succeeds when --expect TEXT appears on the console (or, without --expect, when the guest powers off);',
    'fails with exit 1 and the console tail on a timeout, a kernel panic or QEMU exiting first.',
    'QEMU is always stopped at the end. The kernel command line starts with "console=ttyS0 panic=-1".',
  ].join('\n'),
  options: {
    kernel: { type: 'string', valueName: 'FILE', description: 'Kernel image (bzImage / vmlinuz)' },
    initrd: { type: 'string', valueName: 'FILE', description: 'Initramfs image' },
    append: { type: 'string', valueName: 'ARGS', description: 'More kernel command-line arguments' },
    machine: { type: 'string', valueName: 'microvm|pc', description: 'QEMU machine (default: microvm)' },
    memory: { type: 'string', valueName: 'MIB', description: 'Guest memory in MiB (default: 256)' },
    timeout: { type: 'string', valueName: 'S', description: 'Give up after this many seconds (default: 60)' },
    expect: { type: 'string', valueName: 'TEXT', description: 'Text on the serial console that means success' },
    accel: { type: 'string', valueName: 'auto|kvm|tcg', description: 'Accelerator (default: auto, by probing; env INGOT_ACCEL)' },
    console: { type: 'boolean', description: 'Log the serial console to stderr as it arrives' },
  },
  async run(args, ctx) {
    const kernel = str(args, 'kernel');
    if (!kernel) throw new UsageError('--kernel is required', { hint: 'ingot boot --kernel /boot/vmlinuz-… --initrd initramfs.img --expect TEXT' });
    const machine = str(args, 'machine') ?? 'microvm';
    if (!(MACHINES as readonly string[]).includes(machine)) throw new UsageError(`--machine must be microvm or pc, got "${machine}"`);
    const accel = str(args, 'accel') ?? ctx.env.INGOT_ACCEL ?? 'auto';
    if (!['auto', 'kvm', 'tcg'].includes(accel)) throw new UsageError(`--accel must be auto, kvm or tcg, got "${accel}"`);
    const memoryMiB = positiveNumber(str(args, 'memory') ?? '256', '--memory');
    const timeoutS = positiveNumber(str(args, 'timeout') ?? '60', '--timeout');
    const initrd = str(args, 'initrd');
    const expect = str(args, 'expect');
    const append = str(args, 'append');
    let partial = '';
    // Console lines go through the logger (stderr), so stdout keeps only the result.
    const onConsole = bool(args, 'console')
      ? (text: string) => {
          const lines = (partial + text.replace(/\r/g, '')).split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) ctx.log.info(`console: ${line}`);
        }
      : undefined;

    const result = await bootKernel({
      kernel: path.resolve(ctx.cwd, kernel),
      ...(initrd ? { initrd: path.resolve(ctx.cwd, initrd) } : {}),
      ...(append ? { append } : {}),
      ...(expect ? { expect } : {}),
      machine: machine as Machine,
      memoryMiB,
      timeoutMs: Math.round(timeoutS * 1000),
      accelerator: accel as 'auto' | 'kvm' | 'tcg',
      signal: ctx.signal,
      log: ctx.log,
      ...(onConsole ? { onConsole } : {}),
    });
    const seconds = (result.durationMs / 1000).toFixed(1);
    const summary = {
      ok: result.ok,
      outcome: result.outcome,
      accelerator: result.accelerator,
      accelReason: result.accelReason,
      durationMs: result.durationMs,
      ...(result.matchedAfterMs !== undefined ? { matchedAfterMs: result.matchedAfterMs } : {}),
      exitCode: result.exitCode,
    };
    if (!result.ok) {
      const why = {
        timeout: expect ? `"${expect}" did not appear within ${timeoutS} s` : `the guest did not power off within ${timeoutS} s`,
        panic: 'the kernel panicked',
        exited: expect ? `QEMU exited (code ${result.exitCode}) before "${expect}" appeared` : `QEMU exited with code ${result.exitCode}`,
        expected: '',
        poweroff: '',
      }[result.outcome];
      throw new IngotError(ErrorCode.bootFailed, `boot failed under ${result.accelerator}: ${why}\n--- console (last lines) ---\n${result.consoleTail}\n---`, {
        exitCode: ExitCode.failed,
        hint: result.outcome === 'timeout' ? 'raise --timeout (software emulation is slow) or check --expect and --append' : 'read the console above',
        details: { ...summary, consoleTail: result.consoleTail },
      });
    }
    ctx.out.result(summary, () =>
      result.outcome === 'expected'
        ? `booted under ${result.accelerator}: "${expect}" after ${((result.matchedAfterMs ?? 0) / 1000).toFixed(1)} s (${result.accelReason})`
        : `booted under ${result.accelerator}: the guest powered off after ${seconds} s (${result.accelReason})`,
    );
  },
};

function positiveNumber(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number, got "${value}"`);
  return n;
}
