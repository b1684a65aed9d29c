/**
 * Boots a kernel (+ initramfs) with qemu-system-x86_64 and watches the serial
 * console: KVM when a probe says it works, TCG otherwise. The boot succeeds
 * when the expected text appears (or, with none given, when the guest powers
 * off by itself) and fails on a timeout, a kernel panic or QEMU exiting
 * first. QEMU is always stopped before this returns.
 */
import { constants } from 'node:fs';
import * as fs from 'node:fs/promises';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { supervise } from '../exec/supervise.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { acceleratorArgs, detectAccelerator, type Accelerator } from './accel.js';

export const MACHINES = ['microvm', 'pc'] as const;
export type Machine = (typeof MACHINES)[number];

export interface BootOptions {
  kernel: string;
  initrd?: string;
  /** Extra kernel command line, after "console=ttyS0 panic=-1". */
  append?: string;
  /** Default microvm (QEMU's Firecracker-like machine). */
  machine?: Machine;
  /** Default 256. */
  memoryMiB?: number;
  /** Whole boot deadline. Default 60 000 ms. */
  timeoutMs?: number;
  /** Text on the console that means success. */
  expect?: string;
  /** Default "auto": probe (cached per process). */
  accelerator?: Accelerator | 'auto';
  qemu?: string;
  signal?: AbortSignal;
  log?: Logger;
  /** Console text as it arrives (for live display). */
  onConsole?: (text: string) => void;
}

export type BootOutcome = 'expected' | 'poweroff' | 'timeout' | 'panic' | 'exited';

/** What happened; `ok` says whether it counts as success. */
export interface BootResult {
  ok: boolean;
  outcome: BootOutcome;
  accelerator: Accelerator;
  accelReason: string;
  durationMs: number;
  /** Milliseconds from QEMU's start to the expected text. */
  matchedAfterMs?: number;
  /** The last lines of the serial console. */
  consoleTail: string;
  exitCode: number | null;
  args: string[];
}

const KEEP = 64 * 1024;
const TAIL_LINES = 40;
const PANIC = 'Kernel panic - not syncing';

/**
 * The QEMU argv for a boot (pure; exported for tests). Under TCG on microvm
 * the kernel has no HPET or ACPI PM timer to calibrate the TSC against, and
 * on a busy host its PIT calibration fails and the boot hangs (measured: 1 in
 * 3 boots); TCG's guest TSC runs at the host's rate, so we tell the kernel
 * that rate with tsc_early_khz.
 */
export function qemuBootArgs(opts: BootOptions, accelerator: Accelerator, hostTscKhz?: number): string[] {
  const machine = opts.machine ?? 'microvm';
  const tsc = accelerator === 'tcg' && machine === 'microvm' && hostTscKhz && !opts.append?.includes('tsc_early_khz=') ? `tsc_early_khz=${hostTscKhz}` : '';
  const append = ['console=ttyS0', 'panic=-1', tsc, opts.append ?? ''].filter(Boolean).join(' ');
  return [
    ...acceleratorArgs(accelerator),
    '-M',
    machine,
    '-m',
    String(opts.memoryMiB ?? 256),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-serial',
    'stdio',
    '-no-reboot',
    '-kernel',
    opts.kernel,
    ...(opts.initrd ? ['-initrd', opts.initrd] : []),
    '-append',
    append,
  ];
}

/** Boots and watches; resolves with the outcome (it does not throw for a failed boot, only for unusable inputs). */
export async function bootKernel(opts: BootOptions): Promise<BootResult> {
  const log = opts.log ?? silentLogger;
  for (const [label, file] of [
    ['kernel', opts.kernel],
    ['initrd', opts.initrd],
  ] as const) {
    if (file === undefined) continue;
    await fs.access(file, constants.R_OK).catch((error: NodeJS.ErrnoException) => {
      throw new IngotError(ErrorCode.usage, `cannot read the ${label} ${file}: ${error.code ?? error.message}`, {
        path: file,
        exitCode: ExitCode.usage,
        hint: error.code === 'EACCES' ? "Debian's /boot/vmlinuz-* is readable only by root: run as root or copy it" : `check --${label}`,
      });
    });
  }
  const qemu = opts.qemu ?? 'qemu-system-x86_64';
  const decision =
    opts.accelerator && opts.accelerator !== 'auto'
      ? { accelerator: opts.accelerator, reason: `${opts.accelerator} requested` }
      : await detectAccelerator({ qemu, kernel: opts.kernel, ...(opts.signal ? { signal: opts.signal } : {}) });
  log.info(`accelerator: ${decision.accelerator}`, { reason: decision.reason });

  const args = qemuBootArgs(opts, decision.accelerator, await hostTscKhz());
  if (opts.expect && args[args.length - 1]!.includes(opts.expect)) {
    // The kernel prints its command line early, so this would "succeed" before anything ran.
    log.warn('the expected text is part of the kernel command line, which the kernel prints: it will match at once', { expect: opts.expect });
  }
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let consoleText = '';
  let outcome: BootOutcome | undefined;
  let matchedAfterMs: number | undefined;
  const started = Date.now();
  const child = supervise(qemu, args, {
    timeoutMs,
    graceMs: 2000,
    ...(opts.signal ? { signal: opts.signal } : {}),
    onOutput: (text) => {
      opts.onConsole?.(text);
      const fresh = text.replace(/\r/g, '');
      // Search the new text plus enough of the old to catch a match split across chunks.
      const window = consoleText.slice(-Math.max(opts.expect?.length ?? 0, PANIC.length)) + fresh;
      consoleText = (consoleText + fresh).slice(-KEEP);
      if (outcome) return;
      if (opts.expect && window.includes(opts.expect)) {
        outcome = 'expected';
        matchedAfterMs = Date.now() - started;
        void child.stop();
      } else if (window.includes(PANIC)) {
        outcome = 'panic';
        void child.stop();
      }
    },
  });
  log.debug('qemu started', { pid: child.pid, args });
  const exit = await child.exited;
  opts.signal?.throwIfAborted();
  if (!outcome) {
    if (exit.timedOut) outcome = 'timeout';
    else if (!opts.expect && exit.exitCode === 0) outcome = 'poweroff';
    else outcome = 'exited';
  }
  return {
    ok: outcome === 'expected' || outcome === 'poweroff',
    outcome,
    accelerator: decision.accelerator,
    accelReason: decision.reason,
    durationMs: Date.now() - started,
    ...(matchedAfterMs !== undefined ? { matchedAfterMs } : {}),
    consoleTail: consoleText.trimEnd().split('\n').slice(-TAIL_LINES).join('\n'),
    exitCode: exit.exitCode,
    args,
  };
}

/** The host's TSC rate in kHz from /proc/cpuinfo ("cpu MHz"), or undefined where there is none. */
export async function hostTscKhz(): Promise<number | undefined> {
  const text = await fs.readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const mhz = /^cpu MHz\s*:\s*([\d.]+)/m.exec(text)?.[1];
  return mhz ? Math.round(Number(mhz) * 1000) : undefined;
}
