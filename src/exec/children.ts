/**
 * Child processes that must not outlive ingot: decompressors and short-lived
 * tools register here, and the CLI kills whatever is left when the process
 * exits (normally, by a forced exit after an interrupt, or on a second
 * Ctrl-C). A SIGKILL of ingot runs no code at all; decompressors still end
 * then, because their stdin reaches EOF and their stdout breaks (EPIPE).
 */
import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();

/** Registers a child until it exits. */
export function trackChild(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
}

/** Kills every registered child that is still running (synchronous: safe in an 'exit' handler). */
export function killTrackedChildren(signal: NodeJS.Signals = 'SIGKILL'): number {
  let killed = 0;
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        if (child.kill(signal)) killed++;
      } catch {
        // Already gone.
      }
    }
  }
  live.clear();
  return killed;
}

/** Pids of the registered children still running (for tests and debug logs). */
export function trackedPids(): number[] {
  return [...live].filter((c) => c.exitCode === null && c.signalCode === null && c.pid !== undefined).map((c) => c.pid!);
}
