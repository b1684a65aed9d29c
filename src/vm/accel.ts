/**
 * KVM or TCG, decided by trying: a short KVM boot with a deadline, never by
 * the mere presence of /dev/kvm. On some hosts /dev/kvm exists but does not
 * work (a nested `kvm_pvm` module: QEMU aborts on an MSR assertion with
 * `-cpu host`, or hangs after the BIOS), so only a guest that printed our
 * marker under KVM counts. The probe boots the given kernel with a generated
 * initramfs whose /init prints the marker (the most faithful test), or, with
 * no kernel, a generated multiboot payload. The answer is cached per process.
 */
import { constants, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { supervise } from '../exec/supervise.js';
import { buildInitramfs } from '../initramfs/builder.js';
import { initProbe, multibootProbe, PROBE_MARKER } from './probe-payload.js';

export type Accelerator = 'kvm' | 'tcg';

/** The verdict and why, in words a person can check. */
export interface AccelDecision {
  accelerator: Accelerator;
  reason: string;
}

export interface DetectOptions {
  signal?: AbortSignal;
  /** QEMU binary (default qemu-system-x86_64 on PATH). */
  qemu?: string;
  /** Deadline of the KVM probe boot. Default 5000 ms (a KVM boot to /init takes well under 2 s). */
  timeoutMs?: number;
  /** A kernel to probe with (the one about to be booted); default: a generated multiboot payload. */
  kernel?: string;
  /** Device node to try (tests). Default /dev/kvm. */
  device?: string;
}

const cache = new Map<string, Promise<AccelDecision>>();

/** QEMU arguments that select `accelerator` with the CPU model the probe validated. */
export function acceleratorArgs(accelerator: Accelerator): string[] {
  return accelerator === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg'];
}

/** KVM when a probe boot under KVM printed its marker in time, else TCG. Never rejects except on abort. */
export function detectAccelerator(opts: DetectOptions = {}): Promise<AccelDecision> {
  const key = JSON.stringify([opts.qemu ?? 'qemu-system-x86_64', opts.kernel ?? '', opts.device ?? '/dev/kvm']);
  const cached = cache.get(key);
  if (cached) return cached;
  const pending = probe(opts);
  cache.set(key, pending);
  // An interrupted probe proves nothing: let the next caller try again.
  pending.catch(() => cache.delete(key));
  return pending;
}

async function probe(opts: DetectOptions): Promise<AccelDecision> {
  const device = opts.device ?? '/dev/kvm';
  try {
    await fs.access(device, constants.R_OK | constants.W_OK);
  } catch (error) {
    return { accelerator: 'tcg', reason: `${device} is not usable (${(error as NodeJS.ErrnoException).code ?? 'error'}); using software emulation (TCG)` };
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ingot-accel-'));
  try {
    const probeBoot = await writeProbe(dir, opts.kernel).catch((error: Error) => error);
    if (probeBoot instanceof Error)
      return { accelerator: 'tcg', reason: `cannot prepare the KVM probe (${probeBoot.message}); using software emulation (TCG)` };
    return await runProbe(opts.qemu ?? 'qemu-system-x86_64', [...acceleratorArgs('kvm'), ...probeBoot.args], opts, probeBoot.what);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** Writes the probe's payload into `dir`; returns the QEMU arguments (without the accelerator) that boot it. */
export async function writeProbe(dir: string, kernel?: string): Promise<{ args: string[]; what: string }> {
  const args = ['-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot', '-m', '128'];
  if (!kernel) {
    const payload = path.join(dir, 'probe.multiboot');
    await fs.writeFile(payload, multibootProbe());
    return { args: [...args, '-M', 'pc', '-kernel', payload], what: 'a multiboot payload' };
  }
  const initrd = path.join(dir, 'probe.cpio');
  await fs.writeFile(path.join(dir, 'init'), initProbe());
  const built = await buildInitramfs({
    entries: [
      { type: 'file', path: 'init', source: path.join(dir, 'init'), mode: 0o755 },
      { type: 'char', path: 'dev/console', major: 5, minor: 1 },
    ],
    compression: 'none',
    sizeLimit: 1 << 20,
    mtime: 0,
  });
  await pipeline(built.stream, createWriteStream(initrd));
  return { args: [...args, '-M', 'microvm', '-kernel', kernel, '-initrd', initrd, '-append', 'console=ttyS0 panic=-1 quiet'], what: 'a kernel boot' };
}

async function runProbe(qemu: string, args: string[], opts: DetectOptions, what: string): Promise<AccelDecision> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  let output = '';
  let seen = false;
  let child: ReturnType<typeof supervise>;
  try {
    child = supervise(qemu, args, {
      timeoutMs,
      graceMs: 1000,
      ...(opts.signal ? { signal: opts.signal } : {}),
      onOutput: (text) => {
        output = (output + text).slice(-4000);
        if (!seen && output.includes(PROBE_MARKER)) {
          seen = true;
          void child.stop();
        }
      },
    });
  } catch (error) {
    return { accelerator: 'tcg', reason: `cannot run the KVM probe: ${(error as Error).message}` };
  }
  const exit = await child.exited.catch((error: Error) => ({ error }));
  opts.signal?.throwIfAborted();
  if (seen) return { accelerator: 'kvm', reason: `KVM works: ${what} under KVM reached its marker` };
  if ('error' in exit) return { accelerator: 'tcg', reason: `cannot run the KVM probe: ${exit.error.message}` };
  const last = output.trim().split('\n').filter(Boolean).slice(-1)[0]?.slice(0, 200);
  const why = exit.timedOut
    ? `${what} under KVM did not print its marker within ${timeoutMs} ms (a broken nested KVM hangs)`
    : `${what} under KVM ended with ${exit.signal ? `signal ${exit.signal}` : `exit code ${exit.exitCode}`}${last ? ` (${last})` : ''}`;
  return { accelerator: 'tcg', reason: `/dev/kvm exists but ${why}; using software emulation (TCG)` };
}
