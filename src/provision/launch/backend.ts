/**
 * The launch backend interface, shared by `ingot launch`, `ingot vm …` and
 * anything else that needs a VM (a builder VM for image bakes): a Backend
 * creates a VM from a LaunchSpec, or opens one it created before from its
 * record (.ingot/vms/NAME/vm.json), and hands back an Instance to talk to —
 * run a command as root, read a file, unpack a tar archive, reboot, stop,
 * destroy. Parameters travel as ONE struct, so adding a field never breaks
 * a caller. External programs go through an injectable Runner (by default
 * `run`), which is how the multipass backend is tested against recorded
 * argv and output, and how --dry-run prints instead of runs.
 */
import { run, type RunOptions, type RunResult } from '../../exec/run.js';
import type { Logger } from '../../log/logger.js';
import type { GuestExecResult } from './guest-agent.js';
import type { VmRecord } from './vm-state.js';

/** Runs an external program (same contract as `run`). */
export type Runner = (command: string, args: readonly string[], options?: RunOptions) => Promise<RunResult>;

/** The default runner: the real thing. */
export const realRunner: Runner = run;

/** A data disk created, formatted (ext4) and labelled at launch. */
export interface DataDisk {
  /** Filesystem label, also the file name (disk-NAME.raw); ≤ 16 characters. */
  name: string;
  /** "4G", "512M". */
  size: string;
}

/** Everything a launch needs, in one struct. */
export interface LaunchSpec {
  /** VM name (multipass instance name; the VM directory's name). */
  name: string;
  backend: 'qemu' | 'multipass';
  /** qemu: path of the base qcow2; multipass: an image alias ("24.04") or file:// URL. */
  image: string;
  /** qemu: format of `image` (default qcow2; a baked raw image is raw). */
  imageFormat?: 'qcow2' | 'raw';
  /** Rendered #cloud-config user-data file. */
  userDataFile: string;
  /** A NoCloud network-config (v1 or v2) for the seed (qemu only). */
  networkConfigFile?: string;
  cpus: number;
  /** "2G", "2048M". */
  memory: string;
  /** "10G"; qemu: the overlay's virtual size (default: the base image's). */
  disk?: string;
  /** Extra disks, formatted ext4 with their name as label (qemu only). */
  dataDisks?: DataDisk[];
  /** Overall deadline (boot + cloud-init + post-launch steps), seconds. */
  timeoutSeconds: number;
  /** The VM's own directory: record, user-data, overlay, seed, disks, sockets, console log. */
  vmDir: string;
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

/** Options of a command run in the guest. */
export interface ExecOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What callers need from a VM. */
export interface Instance {
  readonly name: string;
  readonly backend: LaunchSpec['backend'];
  /** Runs argv as root in the guest (PATH lookup). Never throws on a non-zero exit. */
  exec(argv: readonly string[], opts?: ExecOptions): Promise<GuestExecResult>;
  readFile(path: string): Promise<Buffer>;
  /** Unpacks the tar archive `tarFile` (a host file) into `dest` in the guest: one copy, one `tar -x`. */
  putArchive(tarFile: string, dest: string, opts?: ExecOptions): Promise<void>;
  /** Reboots the guest and returns once it answers again (a new boot id). */
  reboot(opts: { deadline: number; signal?: AbortSignal }): Promise<void>;
  /** Powers the guest off: cleanly, then forced after `timeoutMs` (default 90 s). Idempotent. */
  stop(opts?: { timeoutMs?: number }): Promise<void>;
  /** Stops the VM and removes it with every file it has. */
  destroy(): Promise<void>;
  /** Lets go of the VM, which keeps running (closes control connections, so the CLI can exit). */
  release(): void;
  /** Facts for the report: accelerator, ssh port, pid, paths. */
  readonly info: Record<string, unknown>;
}

/** A VM's state as a backend sees it, without attaching to it. */
export type VmStatus = 'running' | 'stopped' | 'missing' | 'unknown';

/** Context every backend call gets. */
export interface BackendContext {
  log: Logger;
  signal?: AbortSignal;
  runner: Runner;
  /** Print commands instead of running them. */
  dryRun?: boolean;
  /** Where --dry-run lines go. */
  print?: (line: string) => void;
  /** Epoch ms by which the VM must answer. */
  deadline: number;
}

/** A way to create and manage VMs. */
export interface Backend {
  readonly name: LaunchSpec['backend'];
  /** Checks the backend can run here (tools, versions); throws an actionable error. */
  preflight(ctx: BackendContext): Promise<void>;
  /** Creates a new VM from `spec` and boots it until its control channel answers. */
  create(spec: LaunchSpec, ctx: BackendContext): Promise<Instance>;
  /** Attaches to the VM of `record`; boots it first when it is stopped and `start` is set. */
  open(record: VmRecord, ctx: BackendContext, opts?: { start?: boolean }): Promise<Instance>;
  /** Whether the VM of `record` runs, without attaching to it. */
  status(record: VmRecord, ctx: Pick<BackendContext, 'runner' | 'signal'>): Promise<VmStatus>;
  /** Powers the VM of `record` off (cleanly, forced after `timeoutMs`), without needing it to answer first. */
  stop(record: VmRecord, ctx: Pick<BackendContext, 'runner' | 'signal'>, opts?: { timeoutMs?: number }): Promise<void>;
  /** Removes the VM of `record` (running or not) and its VM dir, without attaching to it. */
  remove(record: VmRecord, ctx: Pick<BackendContext, 'runner' | 'signal'>): Promise<void>;
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

/** The guest-side command that unpacks `archive` into `dest` and removes it. */
export function extractArgv(archive: string, dest: string): string[] {
  // --no-same-owner: files belong to root whatever the archive says; --no-overwrite-dir keeps an
  // existing destination's owner and mode (cloud-init may have prepared it for a user).
  return ['sh', '-c', 'set -e; mkdir -p -- "$2"; tar -x --no-same-owner --no-overwrite-dir -f "$1" -C "$2"; rm -f -- "$1"', 'ingot-extract', archive, dest];
}
