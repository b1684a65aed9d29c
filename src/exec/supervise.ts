/**
 * A long-running child watched while it runs (a VM on a serial console):
 * the same discipline as `run()` — argv arrays, PATH lookup without a shell,
 * a deadline, cancellation by AbortSignal, SIGTERM then SIGKILL after a
 * grace period — but output is handed over as it arrives and the caller
 * decides when the child has done its job and stops it.
 */
import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { ErrorCode, IngotError } from '../errors.js';
import { scrub } from '../log/logger.js';
import { which } from './which.js';

export interface SuperviseOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Stop the child after this long (`timedOut` is then true). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** First signal when stopping; SIGKILL follows after `graceMs`. Default SIGTERM. */
  killSignal?: NodeJS.Signals;
  /** Default 3000 ms. */
  graceMs?: number;
  /** Strings scrubbed from the text handed to `onOutput` (within a chunk). */
  secrets?: readonly string[];
  /** Output text as it arrives (UTF-8 decoded across chunk boundaries). */
  onOutput?: (text: string, stream: 'stdout' | 'stderr') => void;
}

/** How the child ended. */
export interface ExitInfo {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Stopped by the deadline. */
  timedOut: boolean;
  /** Stopped through the AbortSignal. */
  aborted: boolean;
  /** Stopped by `stop()`. */
  stopped: boolean;
  durationMs: number;
}

/** A running child. */
export interface Supervised {
  readonly pid: number | undefined;
  /** Settles once the child has exited; rejects only if it could not be started. */
  readonly exited: Promise<ExitInfo>;
  /** Stops the child (idempotent) and waits for it to exit. */
  stop(): Promise<ExitInfo>;
}

/** Starts `command` with `args`. Throws INGOT_TOOL_MISSING when it is not on PATH. */
export function supervise(command: string, args: readonly string[], options: SuperviseOptions = {}): Supervised {
  const env = options.env ?? process.env;
  const resolved = command.includes('/') ? command : which(command, env);
  if (!resolved) {
    throw new IngotError(ErrorCode.toolMissing, `${command} is not installed (not found on PATH)`, { hint: `install ${command} (see \`ingot doctor\`)` });
  }
  const started = Date.now();
  const child = spawn(resolved, args, { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let timedOut = false;
  let aborted = false;
  let stopped = false;
  let killTimer: NodeJS.Timeout | undefined;

  const terminate = () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(options.killSignal ?? 'SIGTERM');
    killTimer ??= setTimeout(() => child.kill('SIGKILL'), options.graceMs ?? 3000);
  };
  const timer = options.timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        terminate();
      }, options.timeoutMs)
    : undefined;
  const onAbort = () => {
    aborted = true;
    terminate();
  };
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });

  for (const stream of ['stdout', 'stderr'] as const) {
    const decoder = new StringDecoder('utf8');
    child[stream].on('data', (data: Buffer) => options.onOutput?.(scrub(decoder.write(data), options.secrets ?? []), stream));
  }

  const exited = new Promise<ExitInfo>((resolve, reject) => {
    child.on('error', (error) => {
      cleanup();
      reject(new IngotError(ErrorCode.toolMissing, `cannot run ${command}: ${error.message}`, { cause: error }));
    });
    child.on('close', (exitCode, signal) => {
      cleanup();
      resolve({ exitCode, signal, timedOut, aborted, stopped, durationMs: Date.now() - started });
    });
  });
  const cleanup = () => {
    clearTimeout(timer);
    clearTimeout(killTimer);
    options.signal?.removeEventListener('abort', onAbort);
  };

  return {
    pid: child.pid,
    exited,
    stop() {
      stopped = true;
      terminate();
      return exited;
    },
  };
}
