/** Shared helpers for benchmarks: timing commands, peak RSS, generated inputs. */
import { spawn } from 'node:child_process';
import { appendFileSync, createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { diskImage } from '../test/helpers/fixtures.js';

export const WORK = join(process.cwd(), 'bench', '.work');
mkdirSync(WORK, { recursive: true });

export interface Timed {
  seconds: number;
  code: number | null;
  /** Peak RSS of the top process in MiB (from /proc/<pid>/status VmHWM). */
  peakRssMiB: number;
  stderr: string;
}

/** Runs a command, timing it and sampling its peak RSS. */
export function timed(command: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, {
      env: { ...process.env, ...env },
      cwd,
      stdio: ['ignore', process.env.INGOT_BENCH_STDOUT ? 'inherit' : 'ignore', 'pipe'],
    });
    let stderr = '';
    let peak = 0;
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    const sample = () => {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
        if (hwm) peak = Math.max(peak, Number(hwm[1]) / 1024);
      } catch {
        // exited
      }
    };
    const timer = setInterval(sample, 25);
    child.on('error', reject);
    child.on('exit', () => {
      sample();
      clearInterval(timer);
    });
    child.on('close', (code) => {
      resolve({ seconds: Number(process.hrtime.bigint() - started) / 1e9, code, peakRssMiB: peak, stderr });
    });
  });
}

/** Runs a shell pipeline (bash) and times it. */
export function timedShell(script: string, env: NodeJS.ProcessEnv = {}): Promise<Timed> {
  return timed('bash', ['-o', 'pipefail', '-c', script], env);
}

/** A generated disk image of `size` bytes at bench/.work/<name>, made once. */
export async function generatedImage(name: string, size: number): Promise<string> {
  const file = join(WORK, name);
  if (existsSync(file) && statSync(file).size === size) return file;
  const out = createWriteStream(file);
  const chunk = 64 * 1024 * 1024;
  for (let offset = 0, seed = 1; offset < size; offset += chunk, seed++) {
    const part = diskImage(Math.min(chunk, size - offset), seed);
    if (!out.write(part)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  return file;
}

/** Compresses `file` with a shell command once, caching the result next to it. */
export async function compressedOnce(file: string, suffix: string, command: string): Promise<string> {
  const target = `${file}.${suffix}`;
  if (existsSync(target) && statSync(target).size > 0) return target;
  const r = await timedShell(`${command} < '${file}' > '${target}.part' && mv '${target}.part' '${target}'`);
  if (r.code !== 0) throw new Error(`compressing ${file}: ${r.stderr}`);
  return target;
}

/** A fresh bench/.work/<name> holding an images.yaml with `spec`; returns the directory. */
export function benchProject(name: string, spec: Record<string, unknown>): string {
  const dir = join(WORK, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'images.yaml'), JSON.stringify({ apiVersion: 'ingot/v1alpha1', kind: 'ImageManifest', metadata: { name }, spec }));
  return dir;
}

/** The middle value (the upper one of an even count). */
export function median(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

export function ratio(a: number, b: number): string {
  return `${(a / b).toFixed(2)}×`;
}

export function row(cells: (string | number)[]): string {
  return cells.map((c, i) => String(c).padEnd(i === 0 ? 44 : 12)).join('');
}

/** One measured figure, as written to the benchmark record (`npm run bench -- --json`). */
export interface Figure {
  /** Stable key, e.g. "verify.ratio_native" — compared across records. */
  name: string;
  value: number;
  unit: 's' | 'ms' | 'x' | 'MiB' | 'MB/s';
  /** What good looks like, e.g. "<= 0.3". */
  target?: string;
  pass?: boolean;
}

const figures: Figure[] = [];

/**
 * Records a figure for the benchmark record. `bench/run.ts --json` sets
 * INGOT_BENCH_RECORD to a file each benchmark appends its figures to (one
 * JSON object per line) when it exits; without it this only collects.
 */
export function figure(name: string, value: number, unit: Figure['unit'], target?: { op: '<=' | '<'; limit: number }): boolean | undefined {
  const pass = target ? (target.op === '<=' ? value <= target.limit : value < target.limit) : undefined;
  figures.push({ name, value: Number(value.toFixed(4)), unit, ...(target ? { target: `${target.op} ${target.limit}`, pass } : {}) });
  return pass;
}

process.on('exit', () => {
  const file = process.env.INGOT_BENCH_RECORD;
  if (!file || figures.length === 0) return;
  appendFileSync(file, figures.map((f) => `${JSON.stringify(f)}\n`).join(''));
});
