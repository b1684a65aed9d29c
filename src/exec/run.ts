/**
 * External programs through one disciplined layer: argv arrays (never a
 * shell string), a timeout, SIGTERM/SIGINT then SIGKILL after a grace period,
 * cancellation by AbortSignal, secrets passed by env or file and scrubbed from
 * every line we keep or log.
 */
import { spawn } from 'node:child_process';
import { ErrorCode, IngotError } from '../errors.js';
import { scrub } from '../log/logger.js';
import { trackChild } from './children.js';
import { which } from './which.js';

export interface RunOptions {
  cwd?: string;
  /** Full environment for the child (default: process.env plus `extraEnv`). */
  env?: NodeJS.ProcessEnv;
  extraEnv?: Record<string, string>;
  /** Bytes for stdin (closed after). */
  input?: string | Buffer;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** First signal on timeout/abort; SIGKILL follows after `graceMs`. Default SIGTERM. */
  killSignal?: NodeJS.Signals;
  /** Default 5000 ms. */
  graceMs?: number;
  /** Strings scrubbed from output lines and the error message. */
  secrets?: readonly string[];
  /** Each complete stdout/stderr line as it arrives (already scrubbed). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Keep at most this many characters of each output. Default 1 MiB. */
  maxBuffer?: number;
  /** Resolve with the result instead of throwing on a non-zero exit. */
  reject?: boolean;
  /** Keep stdout as bytes in `stdoutBytes` (for binary output; `stdout` stays empty, no lines). */
  binaryStdout?: boolean;
}

export interface RunResult {
  command: string;
  args: readonly string[];
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
  /** stdout as bytes, with `binaryStdout`. */
  stdoutBytes?: Buffer;
}

/** Runs `command` with `args`; rejects with INGOT_TOOL_MISSING / a failure error unless `reject: false`. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const env = options.env ?? { ...process.env, ...options.extraEnv };
  const resolved = command.includes('/') ? command : which(command, env);
  if (!resolved) {
    return Promise.reject(
      new IngotError(ErrorCode.toolMissing, `${command} is not installed (not found on PATH)`, {
        hint: `install ${command} (see \`ingot doctor\`)`,
      }),
    );
  }
  const secrets = options.secrets ?? [];
  const maxBuffer = options.maxBuffer ?? 1 << 20;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(resolved, args, {
      cwd: options.cwd,
      env: options.extraEnv && options.env ? { ...options.env, ...options.extraEnv } : env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    trackChild(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const pending = { stdout: '', stderr: '' };
    const stdoutChunks: Buffer[] = [];

    const terminate = () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(options.killSignal ?? 'SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), options.graceMs ?? 5000);
      killTimer.unref();
    };
    const timer = options.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          terminate();
        }, options.timeoutMs)
      : undefined;
    const onAbort = () => terminate();
    // An already-aborted signal never fires 'abort': stop the child at once.
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });

    const collect = (stream: 'stdout' | 'stderr') => (data: Buffer) => {
      if (stream === 'stdout' && options.binaryStdout) {
        // Bounded like text output: bytes past maxBuffer are dropped.
        if (stdoutChunks.reduce((n, c) => n + c.length, 0) < maxBuffer) stdoutChunks.push(data);
        return;
      }
      const text = data.toString();
      if (stream === 'stdout') stdout = (stdout + text).slice(-maxBuffer);
      else stderr = (stderr + text).slice(-maxBuffer);
      if (!options.onLine) return;
      const lines = (pending[stream] + text).split('\n');
      pending[stream] = lines.pop() ?? '';
      for (const line of lines) options.onLine(scrub(line.replace(/\r$/, ''), secrets), stream);
    };
    child.stdout.on('data', collect('stdout'));
    child.stderr.on('data', collect('stderr'));
    child.stdin.on('error', () => undefined);
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();

    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new IngotError(ErrorCode.toolMissing, `cannot run ${command}: ${error.message}`, { cause: error }));
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      for (const stream of ['stdout', 'stderr'] as const) {
        if (pending[stream] && options.onLine) options.onLine(scrub(pending[stream], secrets), stream);
      }
      const result: RunResult = {
        command,
        args,
        exitCode,
        signal,
        stdout: scrub(stdout, secrets),
        stderr: scrub(stderr, secrets),
        timedOut,
        durationMs: Date.now() - started,
        ...(options.binaryStdout ? { stdoutBytes: Buffer.concat(stdoutChunks) } : {}),
      };
      if (options.signal?.aborted) {
        reject(new IngotError(ErrorCode.aborted, `${command} was interrupted`, { cause: options.signal.reason }));
        return;
      }
      if (options.reject === false || exitCode === 0) {
        resolve(result);
        return;
      }
      const tail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-20).join('\n');
      reject(
        new IngotError(
          ErrorCode.toolFailed,
          timedOut
            ? `${command} timed out after ${options.timeoutMs} ms`
            : `${command} failed with ${signal ? `signal ${signal}` : `exit code ${exitCode}`}${tail ? `:\n${tail}` : ''}`,
          { details: { command, args: args.map((a) => scrub(a, secrets)), exitCode, signal, timedOut } },
        ),
      );
    });
  });
}
