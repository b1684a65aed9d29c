/**
 * `ingot metrics`: a host cache in Prometheus' text exposition format, for
 * node_exporter's textfile collector (hosts expose, Prometheus aggregates,
 * `ingot channel guard` and `ingot fleet status` read Prometheus' API).
 *
 * Names follow Prometheus' conventions: an `ingot_` prefix, base units
 * (seconds), `_total` for counters, `_info` for 1-valued series that carry
 * facts in labels. Labels: `kind` ("family" or "boot_set"), `name` (the
 * family or boot set), `version` (an image's version, or a boot pair's kernel
 * label "6.1.50-20251217a"), `result`, `channel`. The reference table is in
 * docs/fleet.md; `METRICS` below is its source.
 */
import { listBootPairs } from '../cache/boot-switch.js';
import { BOOT_RESULTS, HANDSHAKE_BUCKETS, loadFleetState, targetKey, type FleetState, type TargetKind } from '../cache/fleet-state.js';
import { cachePaths } from '../cache/layout.js';
import { listCache } from '../cache/switch.js';
import { writeFileAtomic } from '../util/fs-atomic.js';

/** Every metric ingot writes: name, type, help (also the docs' reference table). */
export const METRICS = {
  cached: { name: 'ingot_cached_version_info', type: 'gauge', help: 'A version held in the host cache (1 per cached version).', labels: 'kind, name, version' },
  current: {
    name: 'ingot_current_version_info',
    type: 'gauge',
    help: 'The version the cache currently points at, with the channel it was pulled through ("" when none).',
    labels: 'kind, name, version, channel',
  },
  boots: {
    name: 'ingot_boots_total',
    type: 'counter',
    help: 'Boots recorded with `ingot cache record-boot`, by version and result (ok, fail, timeout).',
    labels: 'kind, name, version, result',
  },
  handshake: {
    name: 'ingot_boot_handshake_seconds',
    type: 'histogram',
    help: 'Guest-init handshake latency of recorded boots.',
    labels: 'kind, name, version, le',
  },
  pulls: { name: 'ingot_pulls_total', type: 'counter', help: 'Pulls into this cache, by result (ok, fail).', labels: 'result' },
  lastPull: { name: 'ingot_last_pull_timestamp_seconds', type: 'gauge', help: 'Unix time of the last pull into this cache.', labels: '' },
  lastPullOk: { name: 'ingot_last_pull_success', type: 'gauge', help: 'Whether the last pull into this cache succeeded (1) or failed (0).', labels: '' },
  verification: {
    name: 'ingot_verification_failures_total',
    type: 'counter',
    help: 'Pulls refused because a signature, digest, size or replay check failed, by error code.',
    labels: 'code',
  },
} as const;

type Labels = Record<string, string>;

/** One sample line. */
interface Sample {
  suffix?: string;
  labels: Labels;
  value: number;
}

/** What the cache holds and points at, per target. */
export interface CacheInventory {
  targets: { kind: TargetKind; name: string; versions: string[]; current?: string }[];
}

/** Cached versions and the current one per family and boot set. */
export async function inventory(cacheDir: string): Promise<CacheInventory> {
  const families = await listCache(cacheDir);
  const sets = await listBootPairs(cacheDir);
  return {
    targets: [
      ...families.map((f) => {
        const current = f.entries.find((e) => e.current);
        return {
          kind: 'family' as const,
          name: f.family,
          versions: f.entries.map((e) => e.version ?? e.file),
          ...(current ? { current: current.version ?? current.file } : {}),
        };
      }),
      ...sets.map((s) => {
        const current = s.pairs.find((p) => p.current);
        return { kind: 'boot_set' as const, name: s.set, versions: s.pairs.map((p) => p.kernel.label), ...(current ? { current: current.kernel.label } : {}) };
      }),
    ],
  };
}

/** The exposition text for a cache's inventory and fleet state. */
export function renderMetrics(inv: CacheInventory, fleet: FleetState): string {
  const families: [keyof typeof METRICS, Sample[]][] = [];
  families.push(['cached', inv.targets.flatMap((t) => t.versions.map((version) => ({ labels: { kind: t.kind, name: t.name, version }, value: 1 })))]);
  families.push([
    'current',
    inv.targets
      .filter((t) => t.current !== undefined)
      .map((t) => ({ labels: { kind: t.kind, name: t.name, version: t.current!, channel: fleet.channels[targetKey(t.kind, t.name)] ?? '' }, value: 1 })),
  ]);
  const counters = [...fleet.counters].sort((a, b) => `${a.kind} ${a.name} ${a.version}`.localeCompare(`${b.kind} ${b.name} ${b.version}`));
  families.push([
    'boots',
    counters.flatMap((c) => BOOT_RESULTS.map((result) => ({ labels: { kind: c.kind, name: c.name, version: c.version, result }, value: c.boots[result] }))),
  ]);
  families.push([
    'handshake',
    counters.flatMap((c) => {
      const labels = { kind: c.kind, name: c.name, version: c.version };
      let cumulative = 0;
      const buckets = HANDSHAKE_BUCKETS.map((le, i) => {
        cumulative += c.handshake.buckets[i] ?? 0;
        return { suffix: '_bucket', labels: { ...labels, le: String(le) }, value: cumulative };
      });
      return [
        ...buckets,
        { suffix: '_bucket', labels: { ...labels, le: '+Inf' }, value: c.handshake.count },
        { suffix: '_sum', labels, value: c.handshake.sumSeconds },
        { suffix: '_count', labels, value: c.handshake.count },
      ];
    }),
  ]);
  families.push(['pulls', (['ok', 'fail'] as const).map((result) => ({ labels: { result }, value: fleet.pulls.total[result] }))]);
  const last = fleet.pulls.last;
  families.push(['lastPull', last ? [{ labels: {}, value: Date.parse(last.at) / 1000 }] : []]);
  families.push(['lastPullOk', last ? [{ labels: {}, value: last.ok ? 1 : 0 }] : []]);
  families.push([
    'verification',
    Object.entries(fleet.pulls.verificationFailures)
      .sort()
      .map(([code, value]) => ({ labels: { code }, value })),
  ]);

  const lines: string[] = [];
  for (const [key, samples] of families) {
    if (samples.length === 0) continue;
    const m = METRICS[key];
    lines.push(`# HELP ${m.name} ${escapeHelp(m.help)}`, `# TYPE ${m.name} ${m.type}`);
    for (const s of samples) lines.push(`${m.name}${s.suffix ?? ''}${renderLabels(s.labels)} ${formatValue(s.value)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Renders the metrics of a cache (read-only: no lock, every file is written atomically). */
export async function cacheMetrics(cacheDir: string): Promise<string> {
  const { root } = cachePaths(cacheDir);
  return renderMetrics(await inventory(root), await loadFleetState(root));
}

/**
 * Writes the exposition to `file` as node_exporter's textfile collector needs
 * it: a temporary file in the same directory, renamed over the target (the
 * collector reads `*.prom`; the temporary name ends in `.tmp`, so it never sees a half-written file).
 */
export async function writeTextfile(file: string, text: string): Promise<void> {
  await writeFileAtomic(file, text, 0o644, '.tmp');
}

function renderLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

/** Label values: backslash, double quote and line feed are escaped. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  return String(n);
}
