/**
 * The fleet as Prometheus sees it: which version each host's cache points at
 * (per family or boot set, and the channel it follows), and boot outcomes by
 * version over a window. Used by `ingot fleet status` and by the catalogue's
 * fleet section (`serve --prometheus`, `catalogue --prometheus`).
 */
import type { FleetData } from '../serve/fleet.js';
import type { TargetKind } from '../cache/fleet-state.js';
import { METRICS } from './metrics.js';
import { grownWithin, promDuration, selector, type PrometheusClient } from './prometheus.js';

/** Hosts on one version. */
export interface VersionShare {
  kind: TargetKind;
  name: string;
  channel: string;
  version: string;
  hosts: number;
}

/** Boot outcomes of one version. */
export interface VersionBoots {
  kind: TargetKind;
  name: string;
  version: string;
  ok: number;
  fail: number;
  timeout: number;
  total: number;
  /** ok / total; null without boots. */
  successRate: number | null;
}

/** `ingot fleet status --json`. */
export interface FleetStatus {
  source: string;
  at: string;
  window: string;
  queries: string[];
  versions: VersionShare[];
  boots: VersionBoots[];
}

/** Boot counts of the matching series over the window, summed by the given labels and result. */
export function bootsQuery(labels: Record<string, string>, windowMs: number, by: string[]): string {
  return `sum by (${[...by, 'result'].join(', ')}) (${grownWithin(selector(METRICS.boots.name, labels), windowMs)})`;
}

/** Hosts per version: every host's current-version series counted. */
export function distributionQuery(filter: Record<string, string> = {}): string {
  return `count by (kind, name, channel, version) (${selector(METRICS.current.name, filter)})`;
}

/** Queries Prometheus for the fleet's versions and boots. */
export async function fleetStatus(
  prometheus: PrometheusClient,
  options: { windowMs: number; filter?: { kind?: TargetKind; name?: string }; signal?: AbortSignal; now?: Date },
): Promise<FleetStatus> {
  const filter: Record<string, string> = {
    ...(options.filter?.kind ? { kind: options.filter.kind } : {}),
    ...(options.filter?.name ? { name: options.filter.name } : {}),
  };
  const distribution = distributionQuery(filter);
  const boots = bootsQuery(filter, options.windowMs, ['kind', 'name', 'version']);
  const [shares, outcomes] = await Promise.all([prometheus.query(distribution, options.signal), prometheus.query(boots, options.signal)]);
  const versions = shares
    .map((s) => ({ kind: kindOf(s.metric.kind), name: s.metric.name ?? '', channel: s.metric.channel ?? '', version: s.metric.version ?? '', hosts: s.value }))
    .sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name) || a.channel.localeCompare(b.channel) || a.version.localeCompare(b.version));
  const byVersion = new Map<string, VersionBoots>();
  for (const s of outcomes) {
    const kind = kindOf(s.metric.kind);
    const name = s.metric.name ?? '';
    const version = s.metric.version ?? '';
    const key = `${kind} ${name} ${version}`;
    const row = byVersion.get(key) ?? { kind, name, version, ok: 0, fail: 0, timeout: 0, total: 0, successRate: null };
    const result = s.metric.result;
    if ((result === 'ok' || result === 'fail' || result === 'timeout') && Number.isFinite(s.value)) row[result] += Math.round(s.value);
    byVersion.set(key, row);
  }
  const bootRows = [...byVersion.values()]
    .map((r) => {
      const total = r.ok + r.fail + r.timeout;
      return { ...r, total, successRate: total === 0 ? null : r.ok / total };
    })
    .sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
  return {
    source: prometheus.displayUrl,
    at: (options.now ?? new Date()).toISOString(),
    window: promDuration(options.windowMs),
    queries: [distribution, boots],
    versions,
    boots: bootRows,
  };
}

/** The catalogue's fleet section from a status (hosts summed over channels; failures = fail + timeout). */
export function toFleetData(status: FleetStatus): FleetData {
  const label = (kind: TargetKind, name: string) => (kind === 'boot_set' ? `${name} (boot set)` : name);
  const hosts = new Map<string, { family: string; version: string; hosts: number }>();
  for (const v of status.versions) {
    const key = `${v.kind} ${v.name} ${v.version}`;
    const row = hosts.get(key) ?? { family: label(v.kind, v.name), version: v.version, hosts: 0 };
    row.hosts += v.hosts;
    hosts.set(key, row);
  }
  return {
    source: status.source,
    at: status.at,
    versions: [...hosts.values()],
    boots: status.boots.map((b) => ({ family: label(b.kind, b.name), version: b.version, success: b.ok, failure: b.fail + b.timeout })),
  };
}

/** A fleet source for the catalogue (serve --prometheus, catalogue --prometheus). */
export function fleetSource(prometheus: PrometheusClient, windowMs: number): (signal?: AbortSignal) => Promise<FleetData> {
  return async (signal) => {
    try {
      return toFleetData(await fleetStatus(prometheus, { windowMs, ...(signal ? { signal } : {}) }));
    } catch (error) {
      // The page still renders: the section says why there are no numbers.
      return { source: prometheus.displayUrl, at: new Date().toISOString(), versions: [], boots: [], error: (error as Error).message };
    }
  };
}

function kindOf(value: string | undefined): TargetKind {
  return value === 'boot_set' ? 'boot_set' : 'family';
}
