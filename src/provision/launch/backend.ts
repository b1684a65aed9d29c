/**
 * The launch backend interface. A backend starts a VM from a spec and hands
 * back an Instance the orchestrator talks to (run a command as root, read a
 * file, copy a file in, stop). Parameters travel as ONE struct, so adding a
 * field never breaks a caller. External programs go through an injectable
 * Runner (by default `run`), which is how the multipass backend is tested
 * against recorded argv and output, and how --dry-run prints instead of runs.
 */
import { run, type RunOptions, type RunResult } from '../../exec/run.js';
import type { Logger } from '../../log/logger.js';
import type { GuestExecResult } from './guest-agent.js';

/** Runs an external program (same contract as `run`). */
export type Runner = (command: string, args: readonly string[], options?: RunOptions) => Promise<RunResult>;

/** The default runner: the real thing. */
export const realRunner: Runner = run;

/** Everything a launch needs, in one struct. */
export interface LaunchSpec {
  /** VM name (multipass instance name; qemu work-dir name). */
  name: string;
  backend: 'qemu' | 'multipass';
  /** qemu: path of the base qcow2; multipass: an image alias ("24.04") or file:// URL. */
  image: string;
  /** Rendered #cloud-config user-data file. */
  userDataFile: string;
  cpus: number;
  /** "2G", "2048M". */
  memory: string;
  /** "10G"; qemu: the overlay's virtual size (default: the base image's). */
  disk?: string;
  /** Overall launch deadline (boot + cloud-init + post-launch). Default 900. */
  timeoutSeconds: number;
  /** qemu: directory for the overlay, seed, sockets and console log. */
  workDir?: string;
  /** qemu direct kernel boot (images without a bootloader). */
  kernel?: string;
  initrd?: string;
  /** Kernel command line with `kernel` (default "root=/dev/vda rw console=ttyS0"). */
  append?: string;
  /** qemu accelerator: probe (auto), or force one. */
  accel?: 'auto' | 'kvm' | 'tcg';
  /** qemu: host port forwarded to the guest's 22 (default: a free port). */
  sshPort?: number;
  /** qemu binary (default qemu-system-x86_64). */
  qemu?: string;
}

/** What the orchestrator needs from a running VM. */
export interface Instance {
  readonly name: string;
  /** Runs argv as root in the guest. Never throws on a non-zero exit. */
  exec(argv: readonly string[], opts?: { timeoutMs?: number; signal?: AbortSignal }): Promise<GuestExecResult>;
  readFile(path: string): Promise<Buffer>;
  /** Copies a local file to `remotePath` with `mode` (parents created). */
  copyIn(localFile: string, remotePath: string, mode: number): Promise<void>;
  /** Ends the VM (idempotent). */
  stop(): Promise<void>;
  /** Lets go of the VM, which keeps running (closes control connections, so the CLI can exit). */
  release(): void;
  /** Facts for the report: accelerator, ssh port, pid, paths. */
  readonly info: Record<string, unknown>;
}

/** Context every backend gets. */
export interface BackendContext {
  log: Logger;
  signal?: AbortSignal;
  runner: Runner;
  /** Print commands instead of running them. */
  dryRun?: boolean;
  /** Where --dry-run lines go. */
  print?: (line: string) => void;
  /** Epoch ms by which the VM must be up. */
  deadline: number;
}

/** A way to start VMs. */
export interface Backend {
  readonly name: LaunchSpec['backend'];
  start(spec: LaunchSpec, ctx: BackendContext): Promise<Instance>;
}

/** "2G" / "2048M" / "2048" → MiB. */
export function toMiB(size: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$/i.exec(size.trim());
  if (!m) throw new Error(`expected a size like 2G or 2048M, got "${size}"`);
  const n = Number(m[1]);
  const unit = (m[2] ?? '').toUpperCase();
  const factor = unit === 'K' ? 1 / 1024 : unit === 'G' ? 1024 : unit === 'T' ? 1024 * 1024 : 1;
  return Math.round(n * factor);
}
