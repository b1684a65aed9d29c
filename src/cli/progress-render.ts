/**
 * Renders transfer progress. On a terminal: one live line per active transfer
 * (bytes, %, rate, ETA), redrawn in place at most 10×/s. Otherwise: a log line
 * per transfer every `intervalMs`, and nothing for short transfers.
 */
import type { Logger } from '../log/logger.js';
import type { ProgressReporter, TransferProgress } from '../log/progress.js';
import { formatBytes } from '../transform/decompress.js';

interface Active {
  label: string;
  total: number | undefined;
  bytes: number;
  started: number;
  lastLogged: number;
}

/** Live lines on a TTY stream; `print` writes a log line above them without garbling. */
export function ttyProgress(stream: NodeJS.WriteStream): ProgressReporter & { clear(): void; print(line: string): void } {
  const active = new Set<Active>();
  let drawn = 0;
  let timer: NodeJS.Timeout | undefined;
  const draw = () => {
    let out = drawn > 0 ? `\x1b[${drawn}A` : '';
    const width = stream.columns || 100;
    for (const a of active) out += `\x1b[2K${describe(a).slice(0, width - 1)}\n`;
    out += '\x1b[J';
    drawn = active.size;
    stream.write(out);
  };
  const schedule = () => {
    timer ??= setTimeout(() => {
      timer = undefined;
      draw();
    }, 100);
    timer.unref?.();
  };
  return {
    start(label, total) {
      const a: Active = { label, total, bytes: 0, started: Date.now(), lastLogged: Date.now() };
      active.add(a);
      schedule();
      const handle: TransferProgress = {
        advance(n) {
          a.bytes += n;
          schedule();
        },
        setTotal(t) {
          a.total = t;
        },
        done() {
          active.delete(a);
          draw();
        },
      };
      return handle;
    },
    print(line) {
      // Erase the live lines, write the log line, draw them again below it.
      stream.write(`${drawn > 0 ? `\x1b[${drawn}A\x1b[J` : ''}${line}\n`);
      drawn = 0;
      if (active.size > 0) draw();
    },
    clear() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      active.clear();
      draw();
    },
  };
}

/** Periodic structured log lines, for CI logs and pipes. */
export function logProgress(log: Logger, intervalMs = 10_000): ProgressReporter {
  return {
    start(label, total) {
      const a: Active = { label, total, bytes: 0, started: Date.now(), lastLogged: Date.now() };
      return {
        advance(n) {
          a.bytes += n;
          const now = Date.now();
          if (now - a.lastLogged >= intervalMs) {
            a.lastLogged = now;
            log.info(`progress ${describe(a)}`, { image: label, step: 'transfer', bytes: a.bytes, total: a.total });
          }
        },
        setTotal(t) {
          a.total = t;
        },
        done() {},
      };
    },
  };
}

function describe(a: Active): string {
  const elapsed = Math.max(0.001, (Date.now() - a.started) / 1000);
  const rate = a.bytes / elapsed;
  const pct = a.total ? ` ${((100 * a.bytes) / a.total).toFixed(0).padStart(3)}%` : '';
  const eta = a.total && rate > 0 ? ` ETA ${formatDuration((a.total - a.bytes) / rate)}` : '';
  const of = a.total ? `/${formatBytes(a.total)}` : '';
  return `${a.label}${pct} ${formatBytes(a.bytes)}${of} ${formatBytes(rate)}/s${eta}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return m < 60 ? `${m}m${String(s).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
