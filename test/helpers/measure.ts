/**
 * Runs the built CLI in a child process and measures it: peak RSS (from the
 * child's own process.resourceUsage(), written at exit by maxrss-hook.mjs),
 * the pids of its children while it ran (to check none outlive it), and
 * signals sent at a chosen moment. For the hostile-input tables.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readdirSync, readFileSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { BIN_PATH, tempDir } from './fixtures.js';

const HOOK = new URL('./maxrss-hook.mjs', import.meta.url).pathname;

export interface MeasuredResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Peak resident set size of the ingot process, MiB (undefined if it died without running exit handlers). */
  maxRssMiB: number | undefined;
}

export interface MeasureOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Send stdout to /dev/null instead of collecting it (huge listings). */
  discardStdout?: boolean;
  /** Called once the child is running, with it (e.g. to send a signal at the right moment). */
  onSpawn?: (child: ChildProcess) => void;
}

export function runMeasured(args: string[], options: MeasureOptions = {}): Promise<MeasuredResult> {
  const rssFile = join(tempDir('ingot-rss-'), 'maxrss');
  const devNull = options.discardStdout ? openSync('/dev/null', 'w') : undefined;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', HOOK, BIN_PATH, ...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env, INGOT_TEST_MAXRSS_FILE: rssFile },
      stdio: ['ignore', devNull ?? 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (devNull !== undefined) closeSync(devNull);
      let maxRssMiB: number | undefined;
      try {
        maxRssMiB = Number(readFileSync(rssFile, 'utf8')) / 1024;
      } catch {
        maxRssMiB = undefined;
      }
      resolve({ code, signal, stdout, stderr, maxRssMiB });
    });
    options.onSpawn?.(child);
  });
}

/** Direct children of a process, from /proc (Linux). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces): state, ppid, …
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) out.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

/** Whether a process still runs (a zombie counts as gone). */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
