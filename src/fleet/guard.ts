/**
 * `ingot channel guard`: the reference document's rollback triggers, run
 * from cron or CI. It reads the channel's current version from the signed
 * channel file, asks Prometheus how that version's boots went over the
 * window (fail + timeout = failed boots; timeouts alone = handshake
 * timeouts), and when a threshold is breached with enough boots, rolls the
 * channel back through the same path as `ingot channel rollback`, with the
 * verdict recorded (signed) in the channel's history.
 *
 * Three outcomes, three exit codes (GUARD_EXIT): held, rolled back, could not
 * decide (too few boots, or nothing to roll back to). Errors (Prometheus
 * down, a bad signature) are exit 1 as everywhere.
 */
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { ImageStore } from '../store/image-store.js';
import { channelOwner, channelStack, checkName, readChannelFile, type ChannelFile, type ChannelKind } from '../trust/channels.js';
import type { PublicKey } from '../trust/minisign-format.js';
import { promDuration, type PrometheusClient } from './prometheus.js';
import { bootsQuery } from './status.js';

/** Exit codes of `ingot channel guard` (documented in docs/fleet.md). */
export const GUARD_EXIT = { held: 0, rolledBack: 3, undecided: 4 } as const;

export type GuardDecision = 'held' | 'rolled-back' | 'undecided';

export interface GuardOptions {
  store: ImageStore;
  publicKey: PublicKey;
  family: string;
  /** "boot-set": `family` names a boot set, judged by the metrics' kind="boot_set" series (default "family"). */
  kind?: ChannelKind;
  channel: string;
  prometheus: PrometheusClient;
  /** Failed boots (fail + timeout) / boots above which the channel is rolled back. Default 0.10. */
  maxFailureRate?: number;
  /** Timeouts / boots above which the channel is rolled back (unset: not checked). */
  maxTimeoutRate?: number;
  /** Fewer boots than this in the window: no decision. Default 10. */
  minBoots?: number;
  /** Default 30 minutes. */
  windowMs?: number;
  /** Performs the rollback (with the store lock and signing key), given the recorded reason and the path judged. */
  rollback?: (reason: string, judgedPath: string) => Promise<ChannelFile>;
  log: Logger;
  signal?: AbortSignal;
}

/** What the guard found and did (`--json`). */
export interface GuardVerdict {
  decision: GuardDecision;
  /** With --dry-run a rollback is only reported. */
  dryRun: boolean;
  family: string;
  channel: string;
  version: string;
  path: string;
  /** The entry a rollback goes (or went) back to. */
  previous?: string;
  boots: { ok: number; fail: number; timeout: number; total: number };
  failureRate: number | null;
  timeoutRate: number | null;
  thresholds: { maxFailureRate: number; maxTimeoutRate: number | null; minBoots: number; window: string };
  reason: string;
  query: string;
  /** The channel file's sequence after a rollback. */
  sequence?: number;
}

/** Judges a channel's current version and rolls it back when its boots fail (see the module comment). */
export async function guardChannel(options: GuardOptions): Promise<GuardVerdict> {
  const kind = options.kind ?? 'family';
  const family = checkName(kind === 'boot-set' ? 'boot set' : 'family', options.family);
  const owner = channelOwner(family, kind);
  const channel = checkName('channel', options.channel);
  const maxFailureRate = options.maxFailureRate ?? 0.1;
  const maxTimeoutRate = options.maxTimeoutRate;
  const minBoots = options.minBoots ?? 10;
  const windowMs = options.windowMs ?? 30 * 60_000;
  const window = promDuration(windowMs);
  const file = await readChannelFile(options.store, family, options.publicKey, options.signal, kind);
  if (!file) throw new IngotError(ErrorCode.notInIndex, `${owner} has no channels in this store`, { exitCode: ExitCode.usage });
  const pointer = file.channels[channel];
  if (!pointer) {
    throw new IngotError(ErrorCode.notInIndex, `${owner} has no channel "${channel}"`, {
      hint: `channels: ${Object.keys(file.channels).join(', ') || 'none'}`,
      exitCode: ExitCode.usage,
    });
  }
  const version = pointer.version || pointer.path;
  const stack = channelStack(file, channel);
  const previous = stack[stack.length - 2];
  // The metrics name a boot set's version by its kernel label, as its channel entries do.
  const query = bootsQuery({ kind: kind === 'boot-set' ? 'boot_set' : 'family', name: family, version }, windowMs, []);
  options.log.debug(`PromQL: ${query}`);
  const samples = await options.prometheus.query(query, options.signal);
  const boots = { ok: 0, fail: 0, timeout: 0, total: 0 };
  for (const s of samples) {
    const r = s.metric.result;
    if ((r === 'ok' || r === 'fail' || r === 'timeout') && Number.isFinite(s.value)) boots[r] += Math.round(s.value);
  }
  boots.total = boots.ok + boots.fail + boots.timeout;
  const failureRate = boots.total ? (boots.fail + boots.timeout) / boots.total : null;
  const timeoutRate = boots.total ? boots.timeout / boots.total : null;
  const base = {
    dryRun: !options.rollback,
    family,
    channel,
    version,
    path: pointer.path,
    ...(previous ? { previous: previous.version || previous.path } : {}),
    boots,
    failureRate,
    timeoutRate,
    thresholds: { maxFailureRate, maxTimeoutRate: maxTimeoutRate ?? null, minBoots, window },
    query,
  };
  const pct = (n: number) => `${(n * 100).toFixed(1)} %`;
  const seen = `${boots.total} boot${boots.total === 1 ? '' : 's'} of ${family} ${version} in the last ${window}`;
  if (boots.total < minBoots) {
    return { ...base, decision: 'undecided', reason: `only ${seen}: fewer than --min-boots ${minBoots}, no decision` };
  }
  const breaches: string[] = [];
  if (failureRate! > maxFailureRate)
    breaches.push(`boot failure rate ${pct(failureRate!)} (${boots.fail} failed, ${boots.timeout} timed out of ${boots.total}) > max ${pct(maxFailureRate)}`);
  if (maxTimeoutRate !== undefined && timeoutRate! > maxTimeoutRate)
    breaches.push(`handshake timeout rate ${pct(timeoutRate!)} (${boots.timeout} of ${boots.total}) > max ${pct(maxTimeoutRate)}`);
  if (breaches.length === 0) {
    return {
      ...base,
      decision: 'held',
      reason: `${seen}: failure rate ${pct(failureRate!)}${timeoutRate !== null ? `, timeout rate ${pct(timeoutRate)}` : ''}, within the thresholds`,
    };
  }
  const reason = `channel guard: ${breaches.join('; ')} over ${window}`;
  if (!previous) {
    return { ...base, decision: 'undecided', reason: `${reason} — but ${family}/${channel} has no earlier entry to roll back to` };
  }
  if (!options.rollback) return { ...base, decision: 'rolled-back', reason: `${reason} (dry run: nothing changed)` };
  const next = await options.rollback(reason, pointer.path);
  return { ...base, decision: 'rolled-back', reason, sequence: next.sequence };
}
