/**
 * The qemu backend: a qcow2 overlay on the base image (the base is never
 * written), a NoCloud seed attached read-only, user-mode networking with an
 * SSH port forward on 127.0.0.1, and qemu-guest-agent on a virtio-serial unix
 * socket as the control channel (exec, file read/write) — no SSH keys needed.
 * QEMU daemonizes so the VM outlives `ingot launch`; its pid file is how the
 * VM is ended on failure, timeout or `--stop`.
 */
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, ExitCode, IngotError } from '../../errors.js';
import { buildSeed, instanceId, seedArgv } from '../seed.js';
import { shellLine } from '../shell.js';
import { accelArgs, chooseAccelerator } from './accelerator.js';
import { toMiB, type Backend, type BackendContext, type Instance, type LaunchSpec } from './backend.js';
import { GuestAgent } from './guest-agent.js';

/** Files the qemu backend keeps in the work dir. */
export function qemuPaths(workDir: string) {
  return {
    overlay: path.join(workDir, 'disk.qcow2'),
    seed: path.join(workDir, 'seed.iso'),
    qga: path.join(workDir, 'qga.sock'),
    pidfile: path.join(workDir, 'qemu.pid'),
    console: path.join(workDir, 'console.log'),
  };
}

/** The qemu-system argv for `spec` (pure, for tests and --dry-run). */
export function qemuArgv(spec: LaunchSpec, accel: 'kvm' | 'tcg', sshPort: number, workDir: string): string[] {
  const p = qemuPaths(workDir);
  const args = ['-name', spec.name, ...accelArgs(accel), '-M', 'q35'];
  args.push('-m', String(toMiB(spec.memory)), '-smp', String(spec.cpus), '-nodefaults', '-display', 'none', '-no-reboot');
  args.push('-daemonize', '-pidfile', p.pidfile, '-serial', `file:${p.console}`);
  if (spec.kernel) {
    args.push('-kernel', spec.kernel);
    if (spec.initrd) args.push('-initrd', spec.initrd);
    args.push('-append', spec.append ?? 'root=/dev/vda rw console=ttyS0');
  }
  args.push('-drive', `file=${p.overlay},if=virtio,format=qcow2,discard=unmap`);
  args.push('-drive', `file=${p.seed},if=virtio,format=raw,readonly=on`);
  args.push('-netdev', `user,id=net0,hostfwd=tcp:127.0.0.1:${sshPort}-:22`, '-device', 'virtio-net-pci,netdev=net0');
  args.push('-chardev', `socket,path=${p.qga},server=on,wait=off,id=qga0`);
  args.push('-device', 'virtio-serial-pci', '-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0');
  return args;
}

/** Starts VMs with qemu-system-x86_64. */
export const qemuBackend: Backend = {
  name: 'qemu',
  async start(spec: LaunchSpec, ctx: BackendContext): Promise<Instance> {
    const workDir = path.resolve(spec.workDir ?? path.join('.ingot', 'vms', spec.name));
    const p = qemuPaths(workDir);
    const qemu = spec.qemu ?? 'qemu-system-x86_64';
    const base = path.resolve(spec.image);
    const metaFor = (userData: Buffer) => `instance-id: ${instanceId({ userData })}\nlocal-hostname: ${spec.name}\n`;
    const overlayArgs = ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, p.overlay, ...(spec.disk ? [spec.disk] : [])];

    if (ctx.dryRun) {
      const print = ctx.print ?? (() => undefined);
      const accel = spec.accel && spec.accel !== 'auto' ? spec.accel : 'tcg';
      print(`mkdir -p ${workDir}`);
      print(shellLine(['qemu-img', ...overlayArgs]));
      print(`${shellLine(['xorriso', ...seedArgv(`${workDir}/cidata`, p.seed)])}   # SOURCE_DATE_EPOCH set; meta-data: instance-id from the user-data digest, local-hostname: ${spec.name}`);
      if (spec.accel === 'auto' || !spec.accel) print('# accelerator: probe KVM with a short boot, else tcg (shown as tcg)');
      print(shellLine([qemu, ...qemuArgv(spec, accel, spec.sshPort ?? 2222, workDir)]));
      return dryInstance(spec.name, print, { workDir });
    }

    await stat(base).catch((error: unknown) => {
      throw new IngotError(ErrorCode.launchFailed, `base image not found: ${base}`, { path: base, exitCode: ExitCode.usage, cause: error, hint: 'pass --image PATH to a qcow2 (scripts/build-test-vm.sh builds one)' });
    });
    await mkdir(workDir, { recursive: true });
    const running = Number((await readFile(p.pidfile, 'utf8').catch(() => '')).trim());
    if (running > 0 && isAlive(running) && (await readFile(`/proc/${running}/cmdline`, 'utf8').catch(() => '')).includes(p.pidfile)) {
      throw new IngotError(ErrorCode.exists, `VM ${spec.name} is already running from ${workDir} (qemu pid ${running})`, {
        path: workDir,
        exitCode: ExitCode.usage,
        hint: `stop it first (kill ${running}) or pass another --name / --work-dir`,
      });
    }
    // Only our own files: the work dir may hold other things.
    for (const file of Object.values(p)) await rm(file, { force: true });
    await ctx.runner('qemu-img', overlayArgs, { timeoutMs: 60_000, signal: ctx.signal });
    const userData = await readFile(spec.userDataFile);
    await buildSeed({ userData, metaData: metaFor(userData) }, p.seed, { signal: ctx.signal });
    const choice = await chooseAccelerator(spec.accel ?? 'auto', { log: ctx.log, signal: ctx.signal, qemu, ...(spec.kernel ? { kernel: spec.kernel } : {}) });
    ctx.log.info(`accelerator: ${choice.accelerator} (${choice.reason})`, { step: 'launch' });
    const sshPort = spec.sshPort ?? (await freePort());
    try {
      await ctx.runner(qemu, qemuArgv(spec, choice.accelerator, sshPort, workDir), { timeoutMs: 60_000, signal: ctx.signal });
    } catch (error) {
      // Interrupted while daemonizing: a VM may already be running.
      const early = Number((await readFile(p.pidfile, 'utf8').catch(() => '')).trim());
      if (early > 0 && isAlive(early)) process.kill(early, 'SIGKILL');
      throw error;
    }
    const pid = Number((await readFile(p.pidfile, 'utf8')).trim());
    const alive = () => isAlive(pid);
    const instance = new QemuInstance(spec.name, pid, { accelerator: choice.accelerator, accelReason: choice.reason, sshPort, pid, workDir, console: p.console });
    try {
      ctx.log.info('waiting for the guest agent', { step: 'launch', socket: p.qga });
      instance.agent = await GuestAgent.connect(p.qga, { deadline: ctx.deadline, signal: ctx.signal, isAlive: alive });
    } catch (error) {
      await instance.stop();
      if (error instanceof IngotError && error.code === ErrorCode.launchFailed) {
        const tail = (await readFile(p.console, 'utf8').catch(() => '')).trimEnd().split('\n').slice(-15).join('\n');
        throw new IngotError(ErrorCode.launchFailed, `${error.message}${tail ? `; last console lines:\n${tail}` : ''}`, { hint: `the serial console is in ${p.console}`, cause: error });
      }
      throw error;
    }
    return instance;
  },
};

class QemuInstance implements Instance {
  agent: GuestAgent | undefined;
  #stopped = false;
  constructor(readonly name: string, private readonly pid: number, readonly info: Record<string, unknown>) {}

  async exec(argv: readonly string[], opts: { timeoutMs?: number; signal?: AbortSignal } = {}) {
    return this.#agent().exec(argv, opts);
  }
  async readFile(file: string) {
    return this.#agent().readFile(file);
  }
  async copyIn(localFile: string, remotePath: string, mode: number) {
    const agent = this.#agent();
    await agent.exec(['/bin/mkdir', '-p', path.posix.dirname(remotePath)]);
    await agent.writeFile(remotePath, await readFile(localFile));
    const chmod = await agent.exec(['/bin/chmod', (mode & 0o7777).toString(8), remotePath]);
    if (chmod.exitCode !== 0) throw new IngotError(ErrorCode.launchFailed, `chmod ${remotePath} in the guest failed: ${chmod.stderr.trim()}`);
  }
  release() {
    this.agent?.close();
  }
  async stop() {
    if (this.#stopped) return;
    this.#stopped = true;
    this.agent?.close();
    if (!isAlive(this.pid)) return;
    process.kill(this.pid, 'SIGTERM');
    for (let i = 0; i < 50 && isAlive(this.pid); i++) await sleep(100);
    if (isAlive(this.pid)) process.kill(this.pid, 'SIGKILL');
  }
  #agent(): GuestAgent {
    if (!this.agent) throw new IngotError(ErrorCode.launchFailed, 'the guest agent is not connected');
    return this.agent;
  }
}

/** An Instance for --dry-run: prints what it would run in the guest. */
export function dryInstance(name: string, print: (line: string) => void, info: Record<string, unknown> = {}, prefix = 'guest-exec: '): Instance {
  return {
    name,
    info: { ...info, dryRun: true },
    async exec(argv) {
      print(`${prefix}${shellLine(argv)}`);
      return { exitCode: 0, stdout: '', stderr: '', timedOut: false };
    },
    async readFile(file) {
      print(`guest-file-read: ${file}`);
      return Buffer.alloc(0);
    },
    async copyIn(local, remote, mode) {
      print(`guest-file-write: ${local} -> ${remote} (mode ${mode.toString(8)})`);
    },
    async stop() {
      print(`stop ${name}`);
    },
    release() {},
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
