/**
 * What a host cache reports about itself (issue 13): boot outcomes per
 * version, handshake latency, the last pull and verification failures, kept
 * in `.ingot/fleet.json` next to state.json. `ingot metrics` turns it into
 * Prometheus' text format for node_exporter's textfile collector.
 *
 * Counters only ever grow (Prometheus sees a counter reset otherwise), so
 * they are kept as cumulative counts per (kind, name, version, result),
 * bounded by the number of versions kept per target (the oldest version's
 * series are dropped first). The recent outcomes themselves are a bounded
 * ring, for people reading the file. Every change happens under the cache
 * lock (lock.ts) and is written atomically, so concurrent callers (a boot
 * hook and a pull) never lose each other's counts.
 *
 * A separate file, not state.json: a pull of what is already current must
 * leave state.json untouched, while its time still counts as the last pull.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { cachePaths, cacheIo, requireRegularOrAbsent, writeFileAtomic } from './layout.js';
import { lockCache } from './lock.js';

/** What a boot outcome is recorded against: a family's image or a boot set's pair. */
export type TargetKind = 'family' | 'boot_set';
export type BootResult = 'ok' | 'fail' | 'timeout';
export const BOOT_RESULTS: readonly BootResult[] = ['ok', 'fail', 'timeout'];

/** Upper bounds (seconds) of the handshake latency histogram. */
export const HANDSHAKE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

/** Recent outcomes kept in the ring. */
export const RING_SIZE = 200;
/** Versions whose counters are kept per target (the oldest are dropped). */
export const VERSIONS_KEPT = 20;

/** One recorded boot. */
export interface BootRecord {
  at: string;
  kind: TargetKind;
  name: string;
  version: string;
  result: BootResult;
  handshakeMs?: number;
}

/** Cumulative numbers of one version of one target. */
export interface VersionCounters {
  kind: TargetKind;
  name: string;
  version: string;
  /** When a boot of this version was first recorded (orders versions for dropping). */
  firstAt: string;
  boots: Record<BootResult, number>;
  handshake: { count: number; sumSeconds: number; buckets: number[] };
}

/** `.ingot/fleet.json`. */
export interface FleetState {
  schemaVersion: 1;
  ring: BootRecord[];
  counters: VersionCounters[];
  /** The channel each target was last pulled through ("<kind> <name>" → channel). */
  channels: Record<string, string>;
  pulls: {
    total: Record<'ok' | 'fail', number>;
    last?: { at: string; ok: boolean; target: string; code?: string };
    /** Verification failures by error code (digest, size, signature, replay, expiry). */
    verificationFailures: Record<string, number>;
  };
}

/** Error codes that mean "the bytes or documents did not verify". */
export const VERIFICATION_CODES: ReadonlySet<string> = new Set([
  ErrorCode.digestMismatch,
  ErrorCode.sizeMismatch,
  ErrorCode.signatureMissing,
  ErrorCode.signatureMalformed,
  ErrorCode.signatureKeyMismatch,
  ErrorCode.signatureInvalid,
  ErrorCode.indexInvalid,
  ErrorCode.indexRollback,
  ErrorCode.indexExpired,
  ErrorCode.channelInvalid,
  ErrorCode.channelRollback,
  ErrorCode.bootManifestRollback,
  ErrorCode.bootManifestInvalid,
]);

const FILE = 'fleet.json';

export function fleetStateFile(cacheDir: string): string {
  return path.join(cachePaths(cacheDir).stateDir, FILE);
}

export function emptyFleetState(): FleetState {
  return { schemaVersion: 1, ring: [], counters: [], channels: {}, pulls: { total: { ok: 0, fail: 0 }, verificationFailures: {} } };
}

/** The key of a target in `channels`. */
export function targetKey(kind: TargetKind, name: string): string {
  return `${kind} ${name}`;
}

/** Loads `.ingot/fleet.json` (empty when absent). */
export async function loadFleetState(cacheDir: string): Promise<FleetState> {
  const file = fleetStateFile(cacheDir);
  await requireRegularOrAbsent(file);
  const text = await fs.readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw cacheIo(`read ${file}`, error);
  });
  if (text === undefined) return emptyFleetState();
  try {
    const data = JSON.parse(text) as FleetState;
    const problem = shapeProblem(data);
    if (problem) throw new Error(problem);
    return data;
  } catch (error) {
    throw new IngotError(ErrorCode.cacheNotFound, `fleet state is damaged: ${file}: ${(error as Error).message}`, {
      path: file,
      hint: 'move the file away: boot counters start again from zero (Prometheus sees a counter reset)',
    });
  }
}

function shapeProblem(data: FleetState): string | undefined {
  if (typeof data !== 'object' || data === null || data.schemaVersion !== 1) return 'unexpected shape';
  if (!Array.isArray(data.ring) || !Array.isArray(data.counters)) return '"ring" or "counters" is not a list';
  if (typeof data.channels !== 'object' || data.channels === null) return '"channels" is not an object';
  if (typeof data.pulls !== 'object' || data.pulls === null || typeof data.pulls.total !== 'object' || typeof data.pulls.verificationFailures !== 'object')
    return '"pulls" is malformed';
  for (const [i, c] of data.counters.entries()) {
    if (typeof c?.name !== 'string' || typeof c.version !== 'string' || (c.kind !== 'family' && c.kind !== 'boot_set')) return `counters[${i}] is malformed`;
    if (BOOT_RESULTS.some((r) => !Number.isSafeInteger(c.boots?.[r]) || c.boots[r] < 0)) return `counters[${i}].boots is malformed`;
    if (!Array.isArray(c.handshake?.buckets) || c.handshake.buckets.length !== HANDSHAKE_BUCKETS.length || !Number.isFinite(c.handshake.sumSeconds))
      return `counters[${i}].handshake is malformed`;
  }
  return undefined;
}

/** Runs `change` on the fleet state under the cache lock and saves it atomically. */
export async function updateFleetState<T>(
  cacheDir: string,
  owner: string,
  change: (state: FleetState) => T,
  options: { lockTimeoutMs?: number; signal?: AbortSignal } = {},
): Promise<T> {
  const { root } = cachePaths(cacheDir);
  const lock = await lockCache(root, { owner, timeoutMs: options.lockTimeoutMs ?? 60_000, ...(options.signal ? { signal: options.signal } : {}) });
  try {
    const state = await loadFleetState(root);
    const result = change(state);
    await saveFleetState(root, state);
    return result;
  } finally {
    await lock.release();
  }
}

/** Saves the fleet state atomically (call under the cache lock). */
export async function saveFleetState(cacheDir: string, state: FleetState): Promise<void> {
  const file = fleetStateFile(cacheDir);
  await requireRegularOrAbsent(file);
  await writeFileAtomic(file, `${JSON.stringify(state, null, 1)}\n`);
}

/** Adds one boot outcome to the state (pure apart from `state`). */
export function addBoot(state: FleetState, boot: BootRecord): VersionCounters {
  let counters = state.counters.find((c) => c.kind === boot.kind && c.name === boot.name && c.version === boot.version);
  if (!counters) {
    counters = {
      kind: boot.kind,
      name: boot.name,
      version: boot.version,
      firstAt: boot.at,
      boots: { ok: 0, fail: 0, timeout: 0 },
      handshake: { count: 0, sumSeconds: 0, buckets: HANDSHAKE_BUCKETS.map(() => 0) },
    };
    state.counters.push(counters);
    const mine = state.counters
      .filter((c) => c.kind === boot.kind && c.name === boot.name)
      .sort((a, b) => (a.firstAt < b.firstAt ? -1 : a.firstAt > b.firstAt ? 1 : 0));
    const drop = new Set(mine.slice(0, Math.max(0, mine.length - VERSIONS_KEPT)));
    state.counters = state.counters.filter((c) => !drop.has(c));
  }
  counters.boots[boot.result] += 1;
  if (boot.handshakeMs !== undefined) {
    const seconds = boot.handshakeMs / 1000;
    counters.handshake.count += 1;
    counters.handshake.sumSeconds += seconds;
    // Stored per bucket (not cumulative); the exposition accumulates.
    const at = HANDSHAKE_BUCKETS.findIndex((le) => seconds <= le);
    if (at >= 0) counters.handshake.buckets[at]! += 1;
  }
  state.ring = [...state.ring, boot].slice(-RING_SIZE);
  return counters;
}

/** Records a pull's outcome: its time, whether it worked, and a verification failure's code. */
export function addPull(
  state: FleetState,
  pull: { at: string; ok: boolean; target: string; code?: string; via?: { kind: TargetKind; name: string; channel?: string } },
): void {
  state.pulls.total[pull.ok ? 'ok' : 'fail'] += 1;
  state.pulls.last = { at: pull.at, ok: pull.ok, target: pull.target, ...(pull.code ? { code: pull.code } : {}) };
  if (pull.code && VERIFICATION_CODES.has(pull.code)) state.pulls.verificationFailures[pull.code] = (state.pulls.verificationFailures[pull.code] ?? 0) + 1;
  // A pull through a channel labels the target's current version with it; a pull without one clears it.
  if (pull.via) {
    const key = targetKey(pull.via.kind, pull.via.name);
    if (pull.via.channel) state.channels[key] = pull.via.channel;
    else delete state.channels[key];
  }
}

/** What `ingot cache record-boot` records. */
export interface RecordBootOptions {
  kind: TargetKind;
  name: string;
  /** The version booted; default: the target's current version in this cache. */
  version?: string;
  result: BootResult;
  handshakeMs?: number;
  /** The target's current version, when `version` is not given (the caller looks it up). */
  current?: () => Promise<string | undefined>;
  now?: Date;
  lockTimeoutMs?: number;
  signal?: AbortSignal;
}

/** Records one boot outcome under the cache lock; returns the record and the version's totals. */
export async function recordBoot(cacheDir: string, options: RecordBootOptions): Promise<{ boot: BootRecord; totals: VersionCounters }> {
  const { root } = cachePaths(cacheDir);
  const stat = await fs.stat(root).catch(() => undefined);
  if (!stat?.isDirectory())
    throw new IngotError(ErrorCode.cacheNotFound, `no host cache at ${root}`, {
      hint: 'pass the --cache DIR that `ingot pull --to DIR` fills',
      path: root,
      exitCode: ExitCode.usage,
    });
  const version = options.version ?? (await options.current?.());
  if (!version) {
    throw new IngotError(ErrorCode.cacheNotFound, `${options.kind === 'family' ? 'family' : 'boot set'} "${options.name}" has no current version in ${root}`, {
      hint: 'pass --version V, or pull it first',
      path: root,
      exitCode: ExitCode.usage,
    });
  }
  const boot: BootRecord = {
    at: (options.now ?? new Date()).toISOString(),
    kind: options.kind,
    name: options.name,
    version,
    result: options.result,
    ...(options.handshakeMs !== undefined ? { handshakeMs: options.handshakeMs } : {}),
  };
  const totals = await updateFleetState(root, `ingot cache record-boot ${options.name}`, (state) => structuredClone(addBoot(state, boot)), options);
  return { boot, totals };
}
