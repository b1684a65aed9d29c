// `ingot serve` as a real child process: started on port 0, ready when it logs its URL, stopped with a signal.
import { spawn, type ChildProcess } from 'node:child_process';
import { BIN_PATH } from '../helpers/fixtures.js';

export interface ServeProcess {
  /** Base URL with a trailing "/". */
  url: string;
  child: ChildProcess;
  /** Access log lines seen so far (stdout). */
  accessLog: string[];
  stderr: () => string;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `ingot serve ARGS --listen 127.0.0.1:0` (unless --listen is given) and waits until it listens. */
export async function startServe(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ServeProcess> {
  const argv = [BIN_PATH, 'serve', ...args, ...(args.includes('--listen') ? [] : ['--listen', '127.0.0.1:0'])];
  const child = spawn(process.execPath, argv, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const accessLog: string[] = [];
  let stdoutRest = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    const lines = (stdoutRest + d.toString()).split('\n');
    stdoutRest = lines.pop() ?? '';
    accessLog.push(...lines.filter(Boolean));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ingot serve did not start:\n${stderr}`)), options.timeoutMs ?? 30_000);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = / url=(\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`ingot serve exited with ${code}:\n${stderr}`));
    });
  });
  return {
    url,
    child,
    accessLog,
    stderr: () => stderr,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Waits until `predicate` holds (polling), or fails after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
