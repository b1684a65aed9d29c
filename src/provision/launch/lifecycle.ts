/**
 * Managing launched VMs by name — the library side of `ingot vm list |
 * start | stop | delete | exec | ssh | console`. A VM is found through its
 * record in the VMs directory and driven through its backend, so the same
 * calls work for qemu and multipass VMs (and for builder VMs of other tools).
 */
import * as path from 'node:path';
import { ErrorCode, ExitCode, IngotError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { realRunner, type BackendContext, type Instance, type Runner, type VmStatus } from './backend.js';
import type { GuestExecResult } from './guest-agent.js';
import { backends } from './launch.js';
import { qemuPaths } from './qemu.js';
import { waitForCloudInit, type CloudInitStatus } from './readiness.js';
import { listRecords, requireRecord, writeRecord, type VmRecord } from './vm-state.js';

/** Where VMs are and how to reach tools. */
export interface VmContext {
  vmsDir: string;
  log: Logger;
  signal?: AbortSignal;
  runner?: Runner;
}

/** One row of `vm list`. */
export interface VmListing {
  name: string;
  backend: VmRecord['backend'];
  status: VmStatus;
  phase: VmRecord['phase'];
  sshPort?: number;
  vmDir: string;
  createdAt: string;
}

/** Every recorded VM with its live status. */
export async function listVms(ctx: VmContext): Promise<VmListing[]> {
  const records = await listRecords(ctx.vmsDir);
  return Promise.all(
    records.map(async (record) => ({
      name: record.name,
      backend: record.backend,
      status: await backends[record.backend]
        .status(record, { runner: ctx.runner ?? realRunner, ...(ctx.signal ? { signal: ctx.signal } : {}) })
        .catch(() => 'unknown' as const),
      phase: record.phase,
      ...(record.qemu?.sshPort ? { sshPort: record.qemu.sshPort } : {}),
      vmDir: record.spec.vmDir,
      createdAt: record.createdAt,
    })),
  );
}

/** Attaches to running VM `name` (or starts it with `start`). */
export async function openVm(
  name: string,
  ctx: VmContext,
  opts: { start?: boolean; timeoutSeconds?: number } = {},
): Promise<{ record: VmRecord; instance: Instance }> {
  const record = await requireRecord(ctx.vmsDir, name);
  const instance = await backends[record.backend].open(record, backendContext(ctx, opts.timeoutSeconds ?? 120), { start: Boolean(opts.start) });
  return { record, instance };
}

/**
 * Boots stopped VM `name` from its overlay and seed as they are — the same
 * instance-id, so cloud-init does not provision again — and waits until
 * cloud-init's per-boot stages are done.
 */
export async function startVm(
  name: string,
  ctx: VmContext,
  opts: { timeoutSeconds?: number } = {},
): Promise<{ record: VmRecord; instance: Instance; cloudInit: CloudInitStatus; alreadyRunning: boolean }> {
  const record = await requireRecord(ctx.vmsDir, name);
  const backend = backends[record.backend];
  const timeoutSeconds = opts.timeoutSeconds ?? 300;
  const bctx = backendContext(ctx, timeoutSeconds);
  await backend.preflight(bctx);
  const alreadyRunning = (await backend.status(record, bctx)) === 'running';
  const instance = await backend.open(record, bctx, { start: true });
  if (record.qemu && instance.info.sshPort) {
    record.qemu.sshPort = Number(instance.info.sshPort);
    await writeRecord(ctx.vmsDir, record);
  }
  const cloudInit = await waitForCloudInit(instance, {
    timeoutMs: Math.max(1000, bctx.deadline - Date.now()),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    retry: `\`ingot vm start ${name}\``,
  });
  return { record, instance, cloudInit, alreadyRunning };
}

/** Powers VM `name` off (cleanly, forced after `timeoutSeconds`). */
export async function stopVm(name: string, ctx: VmContext, opts: { timeoutSeconds?: number } = {}): Promise<'stopped' | 'already-stopped'> {
  const record = await requireRecord(ctx.vmsDir, name);
  const backend = backends[record.backend];
  const bctx = backendContext(ctx, 30);
  if ((await backend.status(record, bctx)) !== 'running') return 'already-stopped';
  await backend.stop(record, bctx, { timeoutMs: (opts.timeoutSeconds ?? 90) * 1000 });
  return 'stopped';
}

/** Removes VM `name`: the VM (running or not) and its directory with the record. */
export async function deleteVm(name: string, ctx: VmContext): Promise<VmRecord> {
  const record = await requireRecord(ctx.vmsDir, name);
  await backends[record.backend].remove(record, { runner: ctx.runner ?? realRunner, ...(ctx.signal ? { signal: ctx.signal } : {}) });
  return record;
}

/** Runs argv as root in running VM `name`. */
export async function execInVm(name: string, argv: readonly string[], ctx: VmContext, opts: { timeoutSeconds?: number } = {}): Promise<GuestExecResult> {
  const { instance } = await openVm(name, ctx, { timeoutSeconds: 60 });
  try {
    return await instance.exec(argv, { timeoutMs: (opts.timeoutSeconds ?? 600) * 1000, ...(ctx.signal ? { signal: ctx.signal } : {}) });
  } finally {
    instance.release();
  }
}

/** The command that opens a shell (or runs `command`) in VM `record` over SSH or multipass. */
export function shellCommand(
  record: VmRecord,
  opts: { user?: string; identity?: string; command?: readonly string[] } = {},
): { command: string; args: string[] } {
  if (record.backend === 'multipass') {
    return opts.command?.length
      ? { command: 'multipass', args: ['exec', record.name, '--', ...opts.command] }
      : { command: 'multipass', args: ['shell', record.name] };
  }
  const user = opts.user ?? record.launch?.user;
  if (!user) {
    throw new IngotError(ErrorCode.usage, `VM ${record.name} was launched without a login user`, {
      exitCode: ExitCode.usage,
      hint: 'pass --user NAME, or launch with --set user=NAME --set ssh_key=…; `ingot vm exec` needs no login',
    });
  }
  const port = record.qemu?.sshPort;
  if (!port) throw new IngotError(ErrorCode.vmState, `VM ${record.name} has no SSH port recorded`, { hint: `start it with \`ingot vm start ${record.name}\`` });
  const args = [
    '-p',
    String(port),
    // Host keys are made at first boot: trust the first one seen, remember it beside the VM.
    '-o',
    'StrictHostKeyChecking=accept-new',
    '-o',
    `UserKnownHostsFile=${path.join(record.spec.vmDir, 'known_hosts')}`,
    ...(opts.identity ? ['-i', opts.identity, '-o', 'IdentitiesOnly=yes'] : []),
    `${user}@127.0.0.1`,
    ...(opts.command?.length ? ['--', ...opts.command] : []),
  ];
  return { command: 'ssh', args };
}

/** The serial console socket and log of qemu VM `record`. */
export function consolePaths(record: VmRecord): { socket: string; log: string } {
  if (record.backend !== 'qemu') {
    throw new IngotError(ErrorCode.usage, `multipass gives no serial console (VM ${record.name})`, {
      exitCode: ExitCode.usage,
      hint: `use \`ingot vm ssh ${record.name}\` (multipass shell)`,
    });
  }
  const p = qemuPaths(record.spec.vmDir);
  return { socket: p.serial, log: p.console };
}

function backendContext(ctx: VmContext, timeoutSeconds: number): BackendContext {
  return { log: ctx.log, runner: ctx.runner ?? realRunner, ...(ctx.signal ? { signal: ctx.signal } : {}), deadline: Date.now() + timeoutSeconds * 1000 };
}
