/**
 * The qemu backend. A VM is a directory (the VM dir) holding a qcow2
 * overlay on the base image (the base is never written), a NoCloud seed
 * attached read-only, data disks (ext4, labelled, made with mkfs.ext4 on an
 * image file — no loop mounts, no root), a pid file and two unix sockets:
 * qemu-guest-agent on a virtio-serial port (the control channel: exec, file
 * read/write, shutdown — no SSH keys needed) and the serial console, which
 * QEMU also logs to console.log. User-mode networking forwards a port on
 * 127.0.0.1 to the guest's 22. QEMU daemonizes so the VM outlives `ingot`.
 *
 * Starting a stopped VM reuses the overlay and the seed unchanged: the same
 * instance-id, so cloud-init sees a reboot of a known instance and does not
 * provision again.
 */
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, ExitCode, IngotError } from '../../errors.js';
import { buildSeed, instanceId, seedArgv } from '../seed.js';
import { shellLine } from '../shell.js';
import { accelArgs, chooseAccelerator } from './accelerator.js';
import {
  extractArgv,
  toMiB,
  type Backend,
  type BackendContext,
  type DataDisk,
  type ExecOptions,
  type Instance,
  type LaunchSpec,
  type VmStatus,
} from './backend.js';
import { dryInstance } from './dry-run.js';
import { GuestAgent } from './guest-agent.js';
import { freePort, isAlive, kill, portFree, powerOff, runningPid } from './qemu-process.js';
import type { VmRecord } from './vm-state.js';

/** Files the qemu backend keeps in the VM dir. */
export function qemuPaths(vmDir: string) {
  return {
    overlay: path.join(vmDir, 'disk.qcow2'),
    seed: path.join(vmDir, 'seed.iso'),
    qga: path.join(vmDir, 'qga.sock'),
    serial: path.join(vmDir, 'console.sock'),
    pidfile: path.join(vmDir, 'qemu.pid'),
    console: path.join(vmDir, 'console.log'),
    disk: (name: string) => path.join(vmDir, `disk-${name}.raw`),
  };
}

/** The qemu-system argv for `spec` (pure, for tests and --dry-run). */
export function qemuArgv(spec: LaunchSpec, accel: 'kvm' | 'tcg', sshPort: number): string[] {
  const p = qemuPaths(spec.vmDir);
  const args = ['-name', spec.name, ...accelArgs(accel), '-M', 'q35'];
  args.push('-m', String(toMiB(spec.memory)), '-smp', String(spec.cpus), '-nodefaults', '-display', 'none');
  args.push('-daemonize', '-pidfile', p.pidfile);
  // The serial console: an interactive socket (`ingot vm console`) that QEMU also logs to a file.
  args.push('-chardev', `socket,id=ser0,path=${p.serial},server=on,wait=off,logfile=${p.console},logappend=on`, '-serial', 'chardev:ser0');
  if (spec.kernel) {
    args.push('-kernel', spec.kernel);
    if (spec.initrd) args.push('-initrd', spec.initrd);
    args.push('-append', spec.append ?? 'root=/dev/vda rw console=ttyS0');
  }
  args.push('-drive', `file=${p.overlay},if=virtio,format=qcow2,discard=unmap`);
  args.push('-drive', `file=${p.seed},if=virtio,format=raw,readonly=on`);
  for (const disk of spec.dataDisks ?? []) args.push('-drive', `file=${p.disk(disk.name)},if=virtio,format=raw,discard=unmap`);
  args.push('-netdev', `user,id=net0,hostfwd=tcp:127.0.0.1:${sshPort}-:22`, '-device', 'virtio-net-pci,netdev=net0');
  args.push('-chardev', `socket,path=${p.qga},server=on,wait=off,id=qga0`);
  args.push('-device', 'virtio-serial-pci', '-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0');
  return args;
}

/** The mkfs.ext4 argv that creates data disk `disk` as the image file `file` (no loop mount, no root needed). */
export function dataDiskArgv(disk: DataDisk, file: string): string[] {
  return ['-q', '-F', '-L', disk.name, '-E', 'root_owner=0:0', file, disk.size];
}

/** meta-data for the seed: the instance-id from the content, the VM name as hostname. */
function metaData(spec: LaunchSpec, userData: Buffer, networkConfig: Buffer | undefined): string {
  return `instance-id: ${instanceId({ userData, ...(networkConfig ? { networkConfig } : {}) })}\nlocal-hostname: ${spec.name}\n`;
}

/** Starts and manages VMs with qemu-system-x86_64. */
export const qemuBackend: Backend = {
  name: 'qemu',

  async preflight() {
    // qemu-img, mkfs.ext4, xorriso and qemu are checked as they are run (INGOT_TOOL_MISSING names each).
  },

  async create(spec, ctx) {
    const p = qemuPaths(spec.vmDir);
    const qemu = spec.qemu ?? 'qemu-system-x86_64';
    const base = path.resolve(spec.image);
    const overlayArgs = ['create', '-q', '-f', 'qcow2', '-F', spec.imageFormat ?? 'qcow2', '-b', base, p.overlay, ...(spec.disk ? [spec.disk] : [])];
    checkSocketPaths(spec.vmDir);

    if (ctx.dryRun) {
      const print = ctx.print ?? (() => undefined);
      const accel = spec.accel && spec.accel !== 'auto' ? spec.accel : 'tcg';
      print(`mkdir -p ${spec.vmDir}`);
      print(shellLine(['qemu-img', ...overlayArgs]));
      for (const disk of spec.dataDisks ?? []) print(shellLine(['mkfs.ext4', ...dataDiskArgv(disk, p.disk(disk.name))]));
      const seedFiles = `user-data${spec.networkConfigFile ? ', network-config' : ''}, meta-data (instance-id from the content, local-hostname: ${spec.name})`;
      print(`${shellLine(['xorriso', ...seedArgv(`${spec.vmDir}/cidata`, p.seed)])}   # SOURCE_DATE_EPOCH set; ${seedFiles}`);
      if (spec.accel === 'auto' || !spec.accel) print('# accelerator: probe KVM with a short boot, else tcg (shown as tcg)');
      print(shellLine([qemu, ...qemuArgv(spec, accel, spec.sshPort ?? 2222)]));
      return dryInstance(spec.name, 'qemu', print, { vmDir: spec.vmDir });
    }

    await stat(base).catch((error: unknown) => {
      throw new IngotError(ErrorCode.launchFailed, `base image not found: ${base}`, {
        path: base,
        exitCode: ExitCode.usage,
        cause: error,
        hint: 'pass --image PATH to a qcow2 (scripts/build-test-vm.sh builds one)',
      });
    });
    const running = await runningPid(p.pidfile);
    if (running) {
      throw new IngotError(ErrorCode.exists, `VM ${spec.name} already exists and is running (qemu pid ${running}, ${spec.vmDir})`, {
        path: spec.vmDir,
        exitCode: ExitCode.usage,
        hint: `pick another --name, or remove it first with \`ingot vm delete ${spec.name}\``,
      });
    }
    await mkdir(spec.vmDir, { recursive: true });
    // Only our own files: the directory may hold the record and user-data written by the caller.
    for (const file of [p.overlay, p.seed, p.qga, p.serial, p.pidfile, p.console]) await rm(file, { force: true });
    await ctx.runner('qemu-img', overlayArgs, { timeoutMs: 60_000, signal: ctx.signal });
    for (const disk of spec.dataDisks ?? []) {
      await rm(p.disk(disk.name), { force: true });
      await ctx.runner('mkfs.ext4', dataDiskArgv(disk, p.disk(disk.name)), { timeoutMs: 120_000, signal: ctx.signal });
      ctx.log.info(`data disk ${disk.name}: ${disk.size}, ext4, label ${disk.name}`, { step: 'launch' });
    }
    const userData = await readFile(spec.userDataFile);
    const networkConfig = spec.networkConfigFile ? await readFile(spec.networkConfigFile) : undefined;
    await buildSeed({ userData, metaData: metaData(spec, userData, networkConfig), ...(networkConfig ? { networkConfig } : {}) }, p.seed, {
      signal: ctx.signal,
    });
    const choice = await chooseAccelerator(spec.accel ?? 'auto', { log: ctx.log, signal: ctx.signal, qemu, ...(spec.kernel ? { kernel: spec.kernel } : {}) });
    ctx.log.info(`accelerator: ${choice.accelerator} (${choice.reason})`, { step: 'launch' });
    const sshPort = spec.sshPort ?? (await freePort());
    return boot(spec, choice, sshPort, ctx);
  },

  async open(record, ctx, opts = {}) {
    const spec = record.spec;
    const p = qemuPaths(spec.vmDir);
    const pid = await runningPid(p.pidfile);
    const facts = record.qemu ?? { accelerator: 'tcg' as const, accelReason: 'not recorded', sshPort: 0 };
    if (pid) {
      const instance = new QemuInstance(spec, pid, { accelerator: facts.accelerator, sshPort: facts.sshPort, pid, vmDir: spec.vmDir, console: p.console });
      instance.agent = await connectAgent(p.qga, pid, ctx);
      return instance;
    }
    if (!opts.start) {
      throw new IngotError(ErrorCode.vmState, `VM ${record.name} is not running`, {
        exitCode: ExitCode.usage,
        hint: `start it with \`ingot vm start ${record.name}\``,
      });
    }
    if (ctx.dryRun) {
      ctx.print?.(shellLine([spec.qemu ?? 'qemu-system-x86_64', ...qemuArgv(spec, facts.accelerator, facts.sshPort || 2222)]));
      return dryInstance(spec.name, 'qemu', ctx.print ?? (() => undefined), { vmDir: spec.vmDir });
    }
    for (const file of [p.overlay, p.seed]) {
      await stat(file).catch((error: unknown) => {
        throw new IngotError(ErrorCode.vmState, `VM ${record.name} cannot start: ${file} is missing`, {
          path: file,
          cause: error,
          hint: `delete it with \`ingot vm delete ${record.name}\` and launch again`,
        });
      });
    }
    // The same port when it is still free: an ssh config may point at it.
    const sshPort = facts.sshPort && (await portFree(facts.sshPort)) ? facts.sshPort : await freePort();
    for (const file of [p.qga, p.serial, p.pidfile]) await rm(file, { force: true });
    return boot(spec, { accelerator: facts.accelerator, reason: facts.accelReason }, sshPort, ctx);
  },

  async status(record): Promise<VmStatus> {
    const p = qemuPaths(record.spec.vmDir);
    if (await runningPid(p.pidfile)) return 'running';
    return (await stat(p.overlay).then(
      () => true,
      () => false,
    ))
      ? 'stopped'
      : 'missing';
  },

  async stop(record, _ctx, opts = {}) {
    const pid = await runningPid(qemuPaths(record.spec.vmDir).pidfile);
    if (pid) await powerOff(record.spec.vmDir, pid, undefined, opts.timeoutMs);
  },

  async remove(record) {
    await destroyQemu(record);
  },
};

// Starts QEMU (daemonized) for `spec` and connects to its guest agent.
async function boot(spec: LaunchSpec, choice: { accelerator: 'kvm' | 'tcg'; reason: string }, sshPort: number, ctx: BackendContext): Promise<QemuInstance> {
  const p = qemuPaths(spec.vmDir);
  const qemu = spec.qemu ?? 'qemu-system-x86_64';
  try {
    await ctx.runner(qemu, qemuArgv(spec, choice.accelerator, sshPort), { timeoutMs: 60_000, signal: ctx.signal });
  } catch (error) {
    // Interrupted while daemonizing: a VM may already be running.
    const early = await runningPid(p.pidfile);
    if (early) process.kill(early, 'SIGKILL');
    throw error;
  }
  const pid = Number((await readFile(p.pidfile, 'utf8')).trim());
  const instance = new QemuInstance(spec, pid, {
    accelerator: choice.accelerator,
    accelReason: choice.reason,
    sshPort,
    pid,
    vmDir: spec.vmDir,
    console: p.console,
  });
  try {
    ctx.log.info('waiting for the guest agent', { step: 'launch', socket: p.qga });
    instance.agent = await connectAgent(p.qga, pid, ctx);
  } catch (error) {
    if (error instanceof IngotError && error.code === ErrorCode.launchFailed) {
      const tail = (await readFile(p.console, 'utf8').catch(() => '')).trimEnd().split('\n').slice(-15).join('\n');
      throw new IngotError(ErrorCode.launchFailed, `${error.message}${tail ? `; last console lines:\n${tail}` : ''}`, {
        hint: `the serial console is in ${p.console}`,
        cause: error,
      });
    }
    throw error;
  }
  return instance;
}

function connectAgent(socket: string, pid: number, ctx: Pick<BackendContext, 'deadline' | 'signal'>): Promise<GuestAgent> {
  return GuestAgent.connect(socket, { deadline: ctx.deadline, ...(ctx.signal ? { signal: ctx.signal } : {}), isAlive: () => isAlive(pid) });
}

class QemuInstance implements Instance {
  readonly backend = 'qemu' as const;
  readonly name: string;
  agent: GuestAgent | undefined;
  #stopped = false;
  constructor(
    private readonly spec: LaunchSpec,
    private readonly pid: number,
    readonly info: Record<string, unknown>,
  ) {
    this.name = spec.name;
  }

  async exec(argv: readonly string[], opts: ExecOptions = {}) {
    return this.#agent().exec(argv, opts);
  }
  async readFile(file: string) {
    return this.#agent().readFile(file);
  }
  async putArchive(tarFile: string, dest: string, opts: ExecOptions = {}) {
    const agent = this.#agent();
    const staging = `/tmp/ingot-transfer-${process.pid}-${Date.now()}.tar`;
    await agent.writeFileFrom(staging, createReadStream(tarFile));
    const r = await agent.exec(extractArgv(staging, dest), opts);
    if (r.exitCode !== 0)
      throw new IngotError(ErrorCode.postLaunchFailed, `unpacking into ${dest} on ${this.name} failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim()}`);
  }
  async reboot(opts: { deadline: number; signal?: AbortSignal }) {
    const bootId = (await this.readFile('/proc/sys/kernel/random/boot_id')).toString().trim();
    await this.#agent()
      .exec(['systemctl', 'reboot'], { timeoutMs: 15_000 })
      .catch(() => undefined);
    this.agent?.close();
    this.agent = undefined;
    const socket = qemuPaths(this.spec.vmDir).qga;
    // The agent dies with the old boot and answers again from the new one: a new boot_id tells them apart.
    while (Date.now() < opts.deadline) {
      opts.signal?.throwIfAborted();
      if (!isAlive(this.pid))
        throw new IngotError(ErrorCode.launchFailed, `VM ${this.name} exited while rebooting`, { hint: `see ${qemuPaths(this.spec.vmDir).console}` });
      await sleep(2000, undefined, { signal: opts.signal });
      let agent: GuestAgent | undefined;
      try {
        agent = await GuestAgent.connect(socket, {
          deadline: Math.min(opts.deadline, Date.now() + 20_000),
          ...(opts.signal ? { signal: opts.signal } : {}),
          isAlive: () => isAlive(this.pid),
        });
        const now = (await agent.readFile('/proc/sys/kernel/random/boot_id')).toString().trim();
        if (now && now !== bootId) {
          this.agent = agent;
          return;
        }
      } catch (error) {
        opts.signal?.throwIfAborted();
        if (error instanceof IngotError && error.code === ErrorCode.launchFailed) throw error;
      }
      agent?.close();
    }
    throw new IngotError(ErrorCode.launchTimeout, `VM ${this.name} did not come back from its reboot in time`, {
      hint: `see ${qemuPaths(this.spec.vmDir).console}`,
    });
  }
  release() {
    this.agent?.close();
  }
  async stop(opts: { timeoutMs?: number } = {}) {
    if (this.#stopped) return;
    this.#stopped = true;
    const agent = this.agent;
    this.agent = undefined;
    await powerOff(this.spec.vmDir, this.pid, agent, opts.timeoutMs);
  }
  async destroy() {
    this.#stopped = true;
    this.agent?.close();
    await kill(this.pid);
    await rm(this.spec.vmDir, { recursive: true, force: true });
  }
  #agent(): GuestAgent {
    if (!this.agent) throw new IngotError(ErrorCode.launchFailed, 'the guest agent is not connected');
    return this.agent;
  }
}

/** Kills the VM of `record` without attaching to it, and removes its directory. */
export async function destroyQemu(record: VmRecord): Promise<void> {
  const pid = await runningPid(qemuPaths(record.spec.vmDir).pidfile);
  if (pid) await kill(pid);
  await rm(record.spec.vmDir, { recursive: true, force: true });
}

// Unix socket paths are limited to 107 bytes on Linux.
function checkSocketPaths(vmDir: string) {
  const longest = qemuPaths(vmDir).serial;
  if (Buffer.byteLength(longest) > 107) {
    throw new IngotError(ErrorCode.usage, `the VM directory ${vmDir} is too deep for its unix sockets (${Buffer.byteLength(longest)} bytes > 107)`, {
      exitCode: ExitCode.usage,
      hint: 'pass a shorter --vms-dir (or a shorter --name)',
    });
  }
}
