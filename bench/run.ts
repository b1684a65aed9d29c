/**
 * `npm run bench`: every benchmark in bench/, one after the other.
 *
 *   npm run bench [-- NAME…]          only benchmarks whose file name contains NAME
 *   npm run bench -- --json [NAME…]   also write every figure, with the machine's core count and
 *                                     load, to bench/results/<date>.json and print the change
 *                                     against the previous record there (the newest 5 are kept)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import type { Figure } from './lib.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const only = args.filter((a) => !a.startsWith('--'));
const RESULTS = join('bench', 'results');
const KEEP = 5;

const loadBefore = os.loadavg();
const collected = join(os.tmpdir(), `ingot-bench-${process.pid}.jsonl`);
rmSync(collected, { force: true });
const started = new Date();
const ran: string[] = [];
for (const file of readdirSync('bench')
  .filter((f) => f.endsWith('.bench.ts'))
  .sort()) {
  if (only.length && !only.some((o) => file.includes(o))) continue;
  console.log(`\n=== ${file} ===`);
  ran.push(file);
  const r = spawnSync(process.execPath, ['--import', 'tsx', `bench/${file}`], {
    stdio: 'inherit',
    env: { ...process.env, ...(json ? { INGOT_BENCH_RECORD: collected } : {}) },
  });
  if (r.status !== 0) process.exitCode = 1;
}

if (json) {
  const figures: Figure[] = existsSync(collected)
    ? readFileSync(collected, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Figure)
    : [];
  rmSync(collected, { force: true });
  const record: BenchRecord = {
    date: started.toISOString(),
    node: process.version,
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    loadAverage: { before: loadBefore.map(round), after: os.loadavg().map(round) },
    benchmarks: ran,
    figures,
  };
  mkdirSync(RESULTS, { recursive: true });
  const previous = latestRecord();
  const file = join(RESULTS, `${started.toISOString().slice(0, 19).replace(/:/g, '-')}Z.json`);
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  // Keep the newest records only: enough to see a trend in review, not a growing pile.
  for (const stale of readdirSync(RESULTS)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .slice(0, -KEEP))
    rmSync(join(RESULTS, stale));
  console.log(
    `\nbenchmark record: ${file} (${figures.length} figures, ${record.cores} cores, load ${record.loadAverage.before[0]} → ${record.loadAverage.after[0]})`,
  );
  console.log(compare(previous, record).join('\n'));
}

interface BenchRecord {
  date: string;
  node: string;
  cores: number;
  cpu: string;
  loadAverage: { before: number[]; after: number[] };
  benchmarks: string[];
  figures: Figure[];
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/** The newest record in bench/results, if any (names sort by date). */
function latestRecord(): { file: string; record: BenchRecord } | undefined {
  if (!existsSync(RESULTS)) return undefined;
  const files = readdirSync(RESULTS)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const last = files.at(-1);
  if (!last) return undefined;
  try {
    return { file: last, record: JSON.parse(readFileSync(join(RESULTS, last), 'utf8')) as BenchRecord };
  } catch {
    return undefined;
  }
}

/** One line per figure: value, target, and the change against the previous record (ratios are what to compare). */
export function compare(previous: { file: string; record: BenchRecord } | undefined, current: BenchRecord): string[] {
  const before = new Map(previous?.record.figures.map((f) => [f.name, f]) ?? []);
  const lines = [previous ? `change against ${previous.file} (load then ${previous.record.loadAverage.before[0]}):` : 'no previous record to compare with'];
  for (const f of current.figures) {
    const old = before.get(f.name);
    const change =
      old && old.value !== 0
        ? `${f.value >= old.value ? '+' : ''}${(((f.value - old.value) / old.value) * 100).toFixed(0)}% (was ${old.value})`
        : old
          ? `was ${old.value}`
          : 'new';
    const verdict = f.pass === undefined ? '' : f.pass ? `ok ${f.target}` : `MISSED ${f.target}`;
    lines.push(`  ${f.name.padEnd(34)} ${String(f.value).padStart(10)} ${f.unit.padEnd(4)} ${verdict.padEnd(16)} ${change}`);
  }
  return lines;
}
