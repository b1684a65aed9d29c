/**
 * The multipass backend: `multipass launch IMAGE --name N --cpus C --memory M
 * --disk D --timeout T --cloud-init FILE`, then `multipass exec N -- sudo …`
 * for commands (multipass runs them as the default user) and `multipass
 * transfer` for files. multipass waits for the instance to come up but not
 * for cloud-init to succeed; readiness is checked by the orchestrator like
 * for any backend. A failed or timed-out launch deletes the instance.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ErrorCode, IngotError } from '../../errors.js';
import { shellLine } from '../shell.js';
import type { Backend, BackendContext, Instance, LaunchSpec, Runner } from './backend.js';

/** The exact `multipass launch` argv for `spec`. */
export function multipassLaunchArgv(spec: LaunchSpec): string[] {
  return [
    'launch', spec.image,
    '--name', spec.name,
    '--cpus', String(spec.cpus),
    '--memory', spec.memory,
    '--disk', spec.disk ?? '10G',
    '--timeout', String(spec.timeoutSeconds),
    '--cloud-init', spec.userDataFile,
  ];
}

/** Starts VMs with multipass. */
export const multipassBackend: Backend = {
  name: 'multipass',
  async start(spec: LaunchSpec, ctx: BackendContext): Promise<Instance> {
    const runner: Runner = ctx.dryRun
      ? async (command, args) => {
          ctx.print?.(shellLine([command, ...args]));
          return { command, args, exitCode: 0, signal: null, stdout: '', stderr: '', timedOut: false, durationMs: 0 };
        }
      : ctx.runner;
    const instance = new MultipassInstance(spec.name, runner, ctx.signal, Boolean(ctx.dryRun));
    if (!ctx.dryRun) {
      // A failed launch deletes its instance: make sure it is not somebody's existing VM.
      const existing = await ctx.runner('multipass', ['info', spec.name], { reject: false, timeoutMs: 60_000, signal: ctx.signal });
      if (existing.exitCode === 0) {
        throw new IngotError(ErrorCode.exists, `a multipass instance named ${spec.name} already exists`, {
          exitCode: 2,
          hint: `pick another --name, or remove it first with \`multipass delete --purge ${spec.name}\``,
        });
      }
    }
    let launch;
    try {
      launch = await runner('multipass', multipassLaunchArgv(spec), {
        reject: false,
        // multipass enforces --timeout itself; this is the backstop.
        timeoutMs: Math.max(1000, ctx.deadline - Date.now()) + 60_000,
        signal: ctx.signal,
        onLine: (line) => ctx.log.debug(line, { step: 'multipass' }),
      });
    } catch (error) {
      // Interrupted (Ctrl-C, deadline): multipassd goes on creating the VM unless we remove it.
      await instance.stop();
      throw error;
    }
    if (launch.exitCode !== 0) {
      await instance.stop();
      const output = (launch.stderr.trim() || launch.stdout.trim()).split('\n').slice(-10).join('\n');
      throw new IngotError(launch.timedOut ? ErrorCode.launchTimeout : ErrorCode.launchFailed, `multipass launch ${spec.name} failed (exit ${launch.exitCode}): ${output}`, {
        hint: `see \`multipass info ${spec.name}\` and the multipassd log; retry with \`ingot launch\` once fixed`,
        details: { argv: ['multipass', ...multipassLaunchArgv(spec)] },
      });
    }
    return instance;
  },
};

class MultipassInstance implements Instance {
  readonly info: Record<string, unknown>;
  #stopped = false;
  #transfers = 0;
  constructor(readonly name: string, private readonly runner: Runner, private readonly signal?: AbortSignal, dryRun = false) {
    this.info = { backend: 'multipass', ...(dryRun ? { dryRun } : {}) };
  }

  async exec(argv: readonly string[], opts: { timeoutMs?: number; signal?: AbortSignal } = {}) {
    const r = await this.runner('multipass', ['exec', this.name, '--', 'sudo', ...argv], {
      reject: false,
      timeoutMs: opts.timeoutMs ?? 600_000,
      signal: opts.signal ?? this.signal,
    });
    return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, timedOut: r.timedOut };
  }

  async readFile(file: string) {
    const dir = await mkdtemp(path.join(tmpdir(), 'ingot-mp-'));
    try {
      const local = path.join(dir, path.posix.basename(file));
      await this.runner('multipass', ['transfer', `${this.name}:${file}`, local], { timeoutMs: 120_000, signal: this.signal });
      return await readFile(local).catch(() => Buffer.alloc(0));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async copyIn(localFile: string, remotePath: string, mode: number) {
    // transfer writes as the default user; root puts the file in place.
    const staging = `/tmp/ingot-transfer-${++this.#transfers}`;
    await this.runner('multipass', ['transfer', localFile, `${this.name}:${staging}`], { timeoutMs: 300_000, signal: this.signal });
    const r = await this.exec(['install', '-D', '-m', (mode & 0o7777).toString(8), staging, remotePath]);
    if (r.exitCode !== 0) throw new IngotError(ErrorCode.launchFailed, `installing ${remotePath} in ${this.name} failed: ${r.stderr.trim()}`);
    await this.exec(['rm', '-f', staging]);
  }

  release() {
    // Nothing held open: every call is its own multipass process.
  }
  async stop() {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.runner('multipass', ['delete', '--purge', this.name], { reject: false, timeoutMs: 120_000 });
  }
}
