/**
 * `ingot launch`, as a table of contents: start the VM with its backend,
 * wait for cloud-init and map its exit code, run the profile's post-launch
 * steps, report. One deadline covers all of it; when it passes, or anything
 * fails, the VM is ended — a launch never leaves a half-provisioned VM
 * running unnoticed.
 */
import { ErrorCode, IngotError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import type { PostLaunch } from '../profile.js';
import { realRunner, type Backend, type Instance, type LaunchSpec, type Runner } from './backend.js';
import { multipassBackend } from './multipass.js';
import { runPostLaunch } from './post-launch.js';
import { qemuBackend } from './qemu.js';
import { waitForCloudInit, type CloudInitStatus } from './readiness.js';

/** Backends by name. */
export const backends: Record<LaunchSpec['backend'], Backend> = { qemu: qemuBackend, multipass: multipassBackend };

/** Options besides the spec. */
export interface LaunchOptions {
  log: Logger;
  signal?: AbortSignal;
  runner?: Runner;
  dryRun?: boolean;
  print?: (line: string) => void;
  post?: PostLaunch;
  /** End the VM after it was verified (CI smoke tests). */
  stopAfter?: boolean;
  /** Files to read from the guest once ready (e.g. a marker), returned in the result. */
  readFiles?: string[];
  /** Shown in "how to retry" hints. */
  retryCommand?: string;
}

/** What a successful launch reports. */
export interface LaunchResult {
  name: string;
  backend: LaunchSpec['backend'];
  cloudInit: CloudInitStatus;
  info: Record<string, unknown>;
  files: Record<string, string>;
  stopped: boolean;
  durationMs: number;
}

/** Launches `spec` and returns once the VM is verified ready (or throws, with the VM ended). */
export async function launch(spec: LaunchSpec, opts: LaunchOptions): Promise<LaunchResult> {
  const started = Date.now();
  const deadline = started + spec.timeoutSeconds * 1000;
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new Error('launch timeout')), spec.timeoutSeconds * 1000);
  timer.unref();
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout.signal]) : timeout.signal;
  const backend = backends[spec.backend];
  const retry = opts.retryCommand ?? 'run `ingot launch` again';
  const log = opts.log.child({ image: spec.name });
  let instance: Instance | undefined;
  try {
    log.info(`starting (${spec.backend})`, { step: 'launch' });
    instance = await backend.start(spec, { log, signal, runner: opts.runner ?? realRunner, dryRun: opts.dryRun, print: opts.print, deadline });
    log.info('waiting for cloud-init', { step: 'cloud-init' });
    const cloudInit = await waitForCloudInit(instance, { timeoutMs: Math.max(1000, deadline - Date.now()), signal, retry });
    log.info(`cloud-init: ${cloudInit.status ?? 'done'}`, { step: 'cloud-init', durationMs: Date.now() - started });
    if (opts.post) await runPostLaunch(instance, opts.post, { log, signal, deadline });
    const files: Record<string, string> = {};
    for (const file of opts.readFiles ?? []) files[file] = (await instance.readFile(file)).toString('utf8');
    if (opts.stopAfter) await instance.stop();
    else instance.release();
    return { name: spec.name, backend: spec.backend, cloudInit, info: instance.info, files, stopped: Boolean(opts.stopAfter), durationMs: Date.now() - started };
  } catch (error) {
    await instance?.stop().catch(() => undefined);
    if (timeout.signal.aborted && !opts.signal?.aborted) {
      throw new IngotError(ErrorCode.launchTimeout, `launch of ${spec.name} timed out after ${spec.timeoutSeconds} s; the VM was stopped`, {
        hint: `raise --timeout (software emulation boots in ~60-90 s), or check the console log${instance?.info.console ? ` ${String(instance.info.console)}` : ''}; then ${retry}`,
        cause: error,
      });
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
