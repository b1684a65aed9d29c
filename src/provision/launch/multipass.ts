/**
 * The multipass backend: `multipass launch IMAGE --name N --cpus C --memory M
 * --disk D --timeout T --cloud-init FILE`, then `multipass exec N -- sudo …`
 * for commands (multipass runs them as the default user), `multipass
 * transfer` for the one tar archive of a transfer step, and `multipass
 * stop|start|restart|delete --purge` for the lifecycle. multipass waits for
 * the instance to come up but not for cloud-init to succeed; readiness is
 * checked by the orchestrator like for any backend. multipass ≥ 1.16 is
 * required (checked before every launch and by `ingot doctor`).
 */
import { rm } from 'node:fs/promises';
import { ErrorCode, ExitCode, IngotError } from '../../errors.js';
import { shellLine } from '../shell.js';
import { extractArgv, type Backend, type BackendContext, type ExecOptions, type Instance, type LaunchSpec, type Runner, type VmStatus } from './backend.js';
import { dryInstance } from './dry-run.js';
import type { VmRecord } from './vm-state.js';

/** The oldest multipass ingot drives (000, P9: `check_prerequisites` wants ≥ 1.16.0). */
export const MIN_MULTIPASS = '1.16.0';

/** The exact `multipass launch` argv for `spec`. */
export function multipassLaunchArgv(spec: LaunchSpec): string[] {
  return [
    'launch',
    spec.image,
    '--name',
    spec.name,
    '--cpus',
    String(spec.cpus),
    '--memory',
    spec.memory,
    '--disk',
    spec.disk ?? '10G',
    '--timeout',
    String(spec.timeoutSeconds),
    '--cloud-init',
    spec.userDataFile,
  ];
}

/** Client and daemon versions from `multipass version` ("multipass   1.16.0+mac" / "multipassd  1.16.0"). */
export function parseMultipassVersion(output: string): { client?: string; daemon?: string } {
  const out: { client?: string; daemon?: string } = {};
  for (const line of output.split('\n')) {
    const m = /^\s*(multipassd?)\s+v?(\d+\.\d+\.\d+)/.exec(line);
    if (m) out[m[1] === 'multipass' ? 'client' : 'daemon'] = m[2]!;
  }
  return out;
}

/** Whether dotted version `a` is at least `b`. */
export function versionAtLeast(a: string, b: string): boolean {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) > (pb[i] ?? 0);
  }
  return true;
}

/** Runs `multipass version` and refuses a client or daemon older than MIN_MULTIPASS. Returns the version. */
export async function checkMultipassVersion(runner: Runner, signal?: AbortSignal): Promise<string> {
  const r = await runner('multipass', ['version'], { reject: false, timeoutMs: 30_000, signal });
  const { client, daemon } = parseMultipassVersion(`${r.stdout}\n${r.stderr}`);
  if (!client) {
    throw new IngotError(
      ErrorCode.toolFailed,
      `cannot tell the multipass version from \`multipass version\` (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().split('\n')[0] ?? ''}`,
      {
        hint: 'install multipass (snap install multipass) and make sure multipassd runs',
      },
    );
  }
  for (const [what, version] of [
    ['multipass', client],
    ['multipassd', daemon],
  ] as const) {
    if (version && !versionAtLeast(version, MIN_MULTIPASS)) {
      throw new IngotError(ErrorCode.toolTooOld, `${what} ${version} is too old: ingot needs ${MIN_MULTIPASS} or newer`, {
        expected: `>= ${MIN_MULTIPASS}`,
        actual: version,
        hint: 'update it: snap refresh multipass (or the installer from multipass.run)',
      });
    }
  }
  return daemon && !versionAtLeast(daemon, client) ? daemon : client;
}

/** The state multipass reports for `name` (`multipass info NAME --format json`). */
export async function multipassState(runner: Runner, name: string, signal?: AbortSignal): Promise<VmStatus> {
  const r = await runner('multipass', ['info', name, '--format', 'json'], { reject: false, timeoutMs: 60_000, signal });
  if (r.exitCode !== 0) return /does not exist/i.test(r.stderr + r.stdout) ? 'missing' : 'unknown';
  try {
    const info = (JSON.parse(r.stdout) as { info?: Record<string, { state?: string }> }).info?.[name];
    const state = info?.state?.toLowerCase();
    if (!state) return 'missing';
    return state === 'running' ? 'running' : state === 'stopped' || state === 'suspended' ? 'stopped' : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Starts and manages VMs with multipass. */
export const multipassBackend: Backend = {
  name: 'multipass',

  async preflight(ctx) {
    if (ctx.dryRun) return;
    const version = await checkMultipassVersion(ctx.runner, ctx.signal);
    ctx.log.debug(`multipass ${version}`, { step: 'launch' });
  },

  async create(spec, ctx) {
    if (spec.dataDisks?.length) {
      throw new IngotError(ErrorCode.usage, 'multipass cannot attach extra disks: --disk NAME:SIZE works with the qemu backend only', {
        exitCode: ExitCode.usage,
        hint: 'use --backend qemu, or give the instance one larger disk with --disk SIZE',
      });
    }
    if (spec.networkConfigFile) {
      throw new IngotError(ErrorCode.usage, 'multipass takes no NoCloud network-config: --network-config works with the qemu backend only', {
        exitCode: ExitCode.usage,
        hint: 'multipass configures networking itself (see `multipass launch --network`)',
      });
    }
    const runner = ctx.dryRun ? printingRunner(ctx) : ctx.runner;
    const instance = new MultipassInstance(spec, runner, ctx.signal, Boolean(ctx.dryRun));
    if (ctx.dryRun) {
      await runner('multipass', multipassLaunchArgv(spec));
      return dryInstance(spec.name, 'multipass', ctx.print ?? (() => undefined), { backend: 'multipass' }, `multipass exec ${spec.name} -- sudo `);
    }
    // Never launch over (or later delete) somebody's existing instance.
    const existing = await ctx.runner('multipass', ['info', spec.name], { reject: false, timeoutMs: 60_000, signal: ctx.signal });
    if (existing.exitCode === 0) {
      throw new IngotError(ErrorCode.exists, `a multipass instance named ${spec.name} already exists`, {
        exitCode: ExitCode.usage,
        hint: `pick another --name, or remove it first with \`multipass delete --purge ${spec.name}\``,
      });
    }
    const launch = await runner('multipass', multipassLaunchArgv(spec), {
      reject: false,
      // multipass enforces --timeout itself; this is the backstop.
      timeoutMs: Math.max(1000, ctx.deadline - Date.now()) + 60_000,
      signal: ctx.signal,
      onLine: (line) => ctx.log.debug(line, { step: 'multipass' }),
    });
    if (launch.exitCode !== 0) {
      const output = (launch.stderr.trim() || launch.stdout.trim()).split('\n').slice(-10).join('\n');
      throw new IngotError(
        launch.timedOut ? ErrorCode.launchTimeout : ErrorCode.launchFailed,
        `multipass launch ${spec.name} failed (exit ${launch.exitCode}): ${output}`,
        {
          hint: `see \`multipass info ${spec.name}\` and the multipassd log`,
          details: { argv: ['multipass', ...multipassLaunchArgv(spec)] },
        },
      );
    }
    return instance;
  },

  async open(record, ctx, opts = {}) {
    const spec = record.spec;
    const runner = ctx.dryRun ? printingRunner(ctx) : ctx.runner;
    const state = ctx.dryRun ? 'stopped' : await multipassState(ctx.runner, spec.name, ctx.signal);
    if (state === 'missing') {
      throw new IngotError(ErrorCode.vmState, `multipass has no instance named ${spec.name} any more`, {
        hint: `forget it with \`ingot vm delete ${spec.name}\``,
      });
    }
    if (state !== 'running') {
      if (!opts.start)
        throw new IngotError(ErrorCode.vmState, `VM ${spec.name} is not running (${state})`, {
          exitCode: ExitCode.usage,
          hint: `start it with \`ingot vm start ${spec.name}\``,
        });
      const r = await runner('multipass', ['start', spec.name], { reject: false, timeoutMs: Math.max(1000, ctx.deadline - Date.now()), signal: ctx.signal });
      if (r.exitCode !== 0)
        throw new IngotError(ErrorCode.launchFailed, `multipass start ${spec.name} failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim()}`);
    }
    if (ctx.dryRun)
      return dryInstance(spec.name, 'multipass', ctx.print ?? (() => undefined), { backend: 'multipass' }, `multipass exec ${spec.name} -- sudo `);
    return new MultipassInstance(spec, runner, ctx.signal, false);
  },

  async status(record: VmRecord, ctx) {
    return multipassState(ctx.runner, record.spec.name, ctx.signal);
  },

  async stop(record, ctx, opts = {}) {
    const r = await ctx.runner('multipass', ['stop', record.spec.name], {
      reject: false,
      timeoutMs: opts.timeoutMs ?? 180_000,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    if (r.exitCode !== 0)
      throw new IngotError(ErrorCode.toolFailed, `multipass stop ${record.spec.name} failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim()}`);
  },

  async remove(record, ctx) {
    await destroyMultipass(record, ctx.runner);
  },
};

/** Removes the multipass instance of `record` and its VM dir, without attaching to it. */
export async function destroyMultipass(record: VmRecord, runner: Runner): Promise<void> {
  const r = await runner('multipass', ['delete', '--purge', record.spec.name], { reject: false, timeoutMs: 120_000 });
  if (r.exitCode !== 0 && !/does not exist/i.test(r.stderr + r.stdout)) {
    throw new IngotError(ErrorCode.toolFailed, `multipass delete --purge ${record.spec.name} failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim()}`);
  }
  await rm(record.spec.vmDir, { recursive: true, force: true });
}

function printingRunner(ctx: BackendContext): Runner {
  return async (command, args) => {
    ctx.print?.(shellLine([command, ...args]));
    return { command, args, exitCode: 0, signal: null, stdout: '', stderr: '', timedOut: false, durationMs: 0 };
  };
}

class MultipassInstance implements Instance {
  readonly backend = 'multipass' as const;
  readonly name: string;
  readonly info: Record<string, unknown>;
  #stopped = false;
  #transfers = 0;
  constructor(
    private readonly spec: LaunchSpec,
    private readonly runner: Runner,
    private readonly signal?: AbortSignal,
    dryRun = false,
  ) {
    this.name = spec.name;
    this.info = { backend: 'multipass', ...(dryRun ? { dryRun } : {}) };
  }

  async exec(argv: readonly string[], opts: ExecOptions = {}) {
    const r = await this.runner('multipass', ['exec', this.name, '--', 'sudo', ...argv], {
      reject: false,
      timeoutMs: opts.timeoutMs ?? 600_000,
      signal: opts.signal ?? this.signal,
    });
    return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, timedOut: r.timedOut };
  }

  async readFile(file: string) {
    // As root: `multipass transfer` reads as the default user, who cannot read every log.
    const r = await this.exec(['cat', '--', file], { timeoutMs: 120_000 });
    if (r.exitCode !== 0) throw new IngotError(ErrorCode.launchFailed, `reading ${file} on ${this.name} failed: ${r.stderr.trim()}`);
    return Buffer.from(r.stdout);
  }

  async putArchive(tarFile: string, dest: string, opts: ExecOptions = {}) {
    // transfer writes as the default user; root unpacks it in place and removes it.
    const staging = `/tmp/ingot-transfer-${process.pid}-${++this.#transfers}.tar`;
    const t = await this.runner('multipass', ['transfer', tarFile, `${this.name}:${staging}`], {
      reject: false,
      timeoutMs: opts.timeoutMs ?? 300_000,
      signal: opts.signal ?? this.signal,
    });
    if (t.exitCode !== 0)
      throw new IngotError(ErrorCode.postLaunchFailed, `multipass transfer to ${this.name} failed (exit ${t.exitCode}): ${(t.stderr || t.stdout).trim()}`);
    const r = await this.exec(extractArgv(staging, dest), opts);
    if (r.exitCode !== 0)
      throw new IngotError(ErrorCode.postLaunchFailed, `unpacking into ${dest} on ${this.name} failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim()}`);
  }

  async reboot(opts: { deadline: number; signal?: AbortSignal }) {
    const r = await this.runner('multipass', ['restart', this.name], {
      reject: false,
      timeoutMs: Math.max(1000, opts.deadline - Date.now()),
      signal: opts.signal ?? this.signal,
    });
    if (r.exitCode !== 0)
      throw new IngotError(ErrorCode.launchFailed, `multipass restart ${this.name} failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim()}`);
  }

  release() {
    // Nothing held open: every call is its own multipass process.
  }

  async stop(opts: { timeoutMs?: number } = {}) {
    if (this.#stopped) return;
    this.#stopped = true;
    await multipassBackend.stop({ spec: this.spec } as VmRecord, { runner: this.runner }, opts);
  }

  async destroy() {
    this.#stopped = true;
    await destroyMultipass({ spec: this.spec } as VmRecord, this.runner);
  }
}
