/**
 * `ingot launch`, as a table of contents: check the backend, record the VM,
 * start it, wait for cloud-init and map its exit code, run the post-launch
 * steps in order, report. One deadline covers all of it.
 *
 * When anything fails after the VM exists — cloud-init, a step after its
 * retries, the deadline, Ctrl-C — the VM is KEPT (its record says `failed`)
 * and the error says how to look inside, resume and remove it; with
 * `rmOnFailure` it is removed instead. `resume` re-attaches to a kept VM
 * (starting it when stopped), checks cloud-init again and re-runs every
 * post-launch step.
 */
import { createHash } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { asIngotError, ErrorCode, ExitCode, IngotError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { writeFileAtomic } from '../../util/fs-atomic.js';
import type { Step } from '../steps.js';
import { realRunner, type Backend, type BackendContext, type Instance, type LaunchSpec, type Runner } from './backend.js';
import { multipassBackend } from './multipass.js';
import { runSteps, type StepOutcome } from './post-launch.js';
import { qemuBackend } from './qemu.js';
import { STATUS_ARGV, waitForCloudInit, type CloudInitStatus } from './readiness.js';
import { readRecord, writeRecord, type VmRecord } from './vm-state.js';

/** Backends by name. */
export const backends: Record<LaunchSpec['backend'], Backend> = { qemu: qemuBackend, multipass: multipassBackend };

/** Options besides the spec. */
export interface LaunchOptions {
  log: Logger;
  signal?: AbortSignal;
  runner?: Runner;
  dryRun?: boolean;
  print?: (line: string) => void;
  /** The user-data to boot with; written to spec.userDataFile inside the VM dir. */
  userData?: string;
  /** Post-launch steps, in order. */
  steps?: readonly Step[];
  /** Variables exported into run, pull-images and health steps. */
  env?: Record<string, string>;
  /** Remove the VM when the launch fails (default: keep it for inspection). */
  rmOnFailure?: boolean;
  /** Stop the VM after it was verified (CI smoke tests). */
  stopAfter?: boolean;
  /** Files to read from the guest once ready, returned in the result. */
  readFiles?: string[];
  /** How the VM was provisioned, kept in its record for --resume. */
  provenance?: Omit<NonNullable<VmRecord['launch']>, 'env' | 'userDataSha256'>;
  /** Added to `ingot vm …` commands in hints (e.g. " --vms-dir /x"). */
  vmsFlag?: string;
}

/** What a successful launch reports. */
export interface LaunchResult {
  name: string;
  backend: LaunchSpec['backend'];
  cloudInit: CloudInitStatus;
  steps: StepOutcome[];
  info: Record<string, unknown>;
  files: Record<string, string>;
  stopped: boolean;
  durationMs: number;
  dryRun: boolean;
}

/** The VMs directory a spec's VM dir lives in. */
export function vmsDirOf(spec: LaunchSpec): string {
  return path.dirname(spec.vmDir);
}

/** Launches `spec` and returns once the VM is verified ready and its steps ran (or throws; see the header). */
export async function launch(spec: LaunchSpec, opts: LaunchOptions): Promise<LaunchResult> {
  const started = Date.now();
  const backend = backends[spec.backend];
  const session = openSession(spec.timeoutSeconds, opts);
  const ctx = backendContext(session, opts);
  let record: VmRecord | undefined;
  try {
    await backend.preflight(ctx);
    if (!opts.dryRun) {
      const existing = await readRecord(vmsDirOf(spec), spec.name);
      if (existing) {
        const status = await backends[existing.backend].status(existing, ctx).catch(() => 'unknown');
        throw new IngotError(ErrorCode.exists, `VM ${spec.name} already exists (${existing.backend}, ${status === 'running' ? 'already running' : status})`, {
          path: spec.vmDir,
          exitCode: ExitCode.usage,
          hint: `resume it with \`ingot launch --resume ${spec.name}${opts.vmsFlag ?? ''}\`, or remove it with \`ingot vm delete ${spec.name}${opts.vmsFlag ?? ''}\`; or pick another --name`,
        });
      }
      await mkdir(spec.vmDir, { recursive: true });
      if (opts.userData !== undefined) await writeFileAtomic(spec.userDataFile, opts.userData, 0o600);
      record = {
        version: 1,
        name: spec.name,
        backend: spec.backend,
        createdAt: new Date().toISOString(),
        updatedAt: '',
        spec,
        phase: 'creating',
        ...(opts.provenance || opts.env || opts.userData !== undefined
          ? { launch: { ...opts.provenance, set: opts.provenance?.set ?? [], env: opts.env ?? {}, userDataSha256: sha256(opts.userData ?? '') } }
          : {}),
      };
      await writeRecord(vmsDirOf(spec), record);
    }
    session.log.info(opts.dryRun ? `dry run (${spec.backend}): the commands a launch runs, none of them run` : `starting (${spec.backend})`, {
      step: 'launch',
    });
    const instance = await backend.create(spec, ctx).catch(async (error: unknown) => {
      // The backend found the name taken (multipass knows an instance we do not): the
      // VM dir and record were ours, made a moment ago, and describe nothing.
      if (error instanceof IngotError && error.code === ErrorCode.exists && record) await rm(spec.vmDir, { recursive: true, force: true });
      throw await onFailure(error, record, undefined, session, opts);
    });
    if (record && spec.backend === 'qemu') {
      record.qemu = {
        accelerator: instance.info.accelerator as 'kvm' | 'tcg',
        accelReason: String(instance.info.accelReason ?? ''),
        sshPort: Number(instance.info.sshPort),
      };
    }
    return await provision(instance, record, session, opts, started);
  } finally {
    session.close();
  }
}

/** Re-attaches to the VM of `record` (starting it when stopped), checks cloud-init and re-runs the steps. */
export async function resume(record: VmRecord, opts: LaunchOptions & { timeoutSeconds?: number }): Promise<LaunchResult> {
  const started = Date.now();
  const backend = backends[record.backend];
  const session = openSession(opts.timeoutSeconds ?? record.spec.timeoutSeconds, opts);
  const ctx = backendContext(session, opts);
  try {
    await backend.preflight(ctx);
    if (opts.env && record.launch) record.launch.env = opts.env;
    session.log.info(`resuming ${record.name} (${record.backend})`, { step: 'launch' });
    const instance = await backend.open(record, ctx, { start: true }).catch(async (error: unknown) => {
      throw await onFailure(error, opts.dryRun ? undefined : record, undefined, session, opts);
    });
    if (record.backend === 'qemu' && instance.info.sshPort && record.qemu) record.qemu.sshPort = Number(instance.info.sshPort);
    return await provision(instance, opts.dryRun ? undefined : record, session, opts, started);
  } finally {
    session.close();
  }
}

// Waits for cloud-init, runs the steps, reports; on failure keeps (or removes) the VM.
async function provision(instance: Instance, record: VmRecord | undefined, session: Session, opts: LaunchOptions, started: number): Promise<LaunchResult> {
  const dry = Boolean(instance.info.dryRun);
  const log = session.log;
  try {
    if (record) await setPhase(record, 'provisioning');
    let cloudInit: CloudInitStatus;
    if (dry) {
      await instance.exec([...STATUS_ARGV]);
      cloudInit = { exitCode: 0, state: 'unknown', status: undefined, detail: undefined, errors: undefined, output: '' };
    } else {
      log.info('waiting for cloud-init', { step: 'cloud-init' });
      cloudInit = await waitForCloudInit(instance, {
        timeoutMs: Math.max(1000, session.deadline - Date.now()),
        signal: session.signal,
        retry: `\`ingot launch --resume ${instance.name}${opts.vmsFlag ?? ''}\``,
      });
      log.info(`cloud-init: ${cloudInit.status ?? 'done'}`, { step: 'cloud-init', durationMs: Date.now() - started });
    }
    const steps = await runSteps(instance, opts.steps ?? [], {
      log,
      signal: session.signal,
      deadline: session.deadline,
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.print ? { print: opts.print } : {}),
      retry: `\`ingot launch --resume ${instance.name}${opts.vmsFlag ?? ''}\``,
    });
    const files: Record<string, string> = {};
    for (const file of opts.readFiles ?? []) files[file] = (await instance.readFile(file)).toString('utf8');
    if (record) await setPhase(record, 'ready');
    if (dry) opts.print?.('# dry run: nothing was created, started or run');
    if (opts.stopAfter) await instance.stop();
    else instance.release();
    return {
      name: instance.name,
      backend: instance.backend,
      cloudInit,
      steps,
      info: instance.info,
      files,
      stopped: Boolean(opts.stopAfter),
      durationMs: Date.now() - started,
      dryRun: dry,
    };
  } catch (error) {
    throw await onFailure(error, record, instance, session, opts);
  }
}

interface Session {
  log: Logger;
  signal: AbortSignal;
  deadline: number;
  timedOut: () => boolean;
  timeoutSeconds: number;
  close: () => void;
}

function openSession(timeoutSeconds: number, opts: LaunchOptions): Session {
  const deadline = Date.now() + timeoutSeconds * 1000;
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new Error('launch timeout')), timeoutSeconds * 1000);
  timer.unref();
  return {
    log: opts.log,
    signal: opts.signal ? AbortSignal.any([opts.signal, timeout.signal]) : timeout.signal,
    deadline,
    timedOut: () => timeout.signal.aborted && !opts.signal?.aborted,
    timeoutSeconds,
    close: () => clearTimeout(timer),
  };
}

function backendContext(session: Session, opts: LaunchOptions): BackendContext {
  return {
    log: session.log,
    signal: session.signal,
    runner: opts.runner ?? realRunner,
    ...(opts.dryRun ? { dryRun: true } : {}),
    ...(opts.print ? { print: opts.print } : {}),
    deadline: session.deadline,
  };
}

async function setPhase(record: VmRecord, phase: VmRecord['phase'], error?: IngotError): Promise<void> {
  record.phase = phase;
  if (error) record.error = { code: error.code, message: error.message };
  else delete record.error;
  await writeRecord(path.dirname(record.spec.vmDir), record);
}

// Records the failure, then keeps the VM (saying how to get at it) or removes it.
async function onFailure(
  thrown: unknown,
  record: VmRecord | undefined,
  instance: Instance | undefined,
  session: Session,
  opts: LaunchOptions,
): Promise<IngotError> {
  let error = asIngotError(thrown);
  const name = record?.name ?? instance?.name ?? '?';
  if (session.timedOut()) {
    error = new IngotError(ErrorCode.launchTimeout, `launch of ${name} timed out after ${session.timeoutSeconds} s`, {
      hint: `raise --timeout (software emulation boots in ~60-90 s)${instance?.info.console ? `; the console log is ${String(instance.info.console)}` : ''}`,
      cause: error,
    });
  }
  if (!record || error.code === ErrorCode.exists) return error;
  await setPhase(record, 'failed', error).catch(() => undefined);
  const flag = opts.vmsFlag ?? '';
  if (opts.rmOnFailure) {
    await (instance ? instance.destroy() : backends[record.backend].remove(record, { runner: opts.runner ?? realRunner })).catch((e: unknown) =>
      session.log.warn(`removing ${name} failed: ${(e as Error).message}`),
    );
    return withHint(error, `the VM was removed (--rm-on-failure)`);
  }
  instance?.release();
  const look =
    record.backend === 'qemu'
      ? `\`ingot vm exec ${name}${flag} -- journalctl -b --no-pager\`, \`ingot vm console ${name}${flag}\``
      : `\`ingot vm exec ${name}${flag} -- journalctl -b --no-pager\`, \`ingot vm ssh ${name}${flag}\``;
  return withHint(
    error,
    `the VM is kept for inspection (${look}); fix the cause, then \`ingot launch --resume ${name}${flag}\` checks cloud-init again and re-runs the post-launch steps; remove it with \`ingot vm delete ${name}${flag}\``,
    { vm: name, kept: true },
  );
}

function withHint(error: IngotError, more: string, details: Record<string, unknown> = {}): IngotError {
  return new IngotError(error.code, error.message, {
    hint: error.hint ? `${error.hint}; ${more}` : more,
    ...(error.path ? { path: error.path } : {}),
    ...(error.url ? { url: error.url } : {}),
    ...(error.image ? { image: error.image } : {}),
    ...(error.expected ? { expected: error.expected } : {}),
    ...(error.actual ? { actual: error.actual } : {}),
    exitCode: error.exitCode,
    cause: error,
    details: { ...error.details, ...details },
  });
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
