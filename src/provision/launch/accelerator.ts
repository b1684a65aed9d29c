/**
 * Choosing KVM or software emulation (TCG) for the qemu backend: forced by
 * --accel, or probed by src/vm/accel.ts (a short boot with a deadline —
 * here /dev/kvm exists but does not work, so its presence proves nothing).
 */
import type { Logger } from '../../log/logger.js';
import { acceleratorArgs, detectAccelerator } from '../../vm/accel.js';

/** The accelerator to use and why. */
export interface AccelChoice {
  accelerator: 'kvm' | 'tcg';
  reason: string;
}

/** Forced choice, or the probe's answer (TCG when the probe fails). */
export async function chooseAccelerator(
  mode: 'auto' | 'kvm' | 'tcg',
  opts: { log: Logger; signal?: AbortSignal; qemu?: string; kernel?: string },
): Promise<AccelChoice> {
  if (mode !== 'auto') return { accelerator: mode, reason: `--accel ${mode}` };
  try {
    return await detectAccelerator({
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.qemu ? { qemu: opts.qemu } : {}),
      ...(opts.kernel ? { kernel: opts.kernel } : {}),
    });
  } catch (error) {
    opts.signal?.throwIfAborted();
    opts.log.warn('KVM probe failed; using software emulation', { error: (error as Error).message });
    return { accelerator: 'tcg', reason: `KVM probe failed: ${(error as Error).message}` };
  }
}

/** The qemu arguments selecting `accelerator` (the CPU model the probe validated). */
export function accelArgs(accelerator: 'kvm' | 'tcg'): string[] {
  return acceleratorArgs(accelerator);
}
