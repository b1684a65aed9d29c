/** `ingot channel guard`: roll a channel back by itself when Prometheus shows its version's boots failing. */
import { UsageError } from '../../errors.js';
import { GUARD_EXIT, guardChannel } from '../../fleet/guard.js';
import { prometheusClient } from '../../fleet/prometheus.js';
import { rollbackChannel } from '../../trust/channels.js';
import { readPublicKey } from '../../trust/key-files.js';
import { bool, str, type Command } from '../command.js';
import { intOption, parseDuration, signingKeyFrom, resolveStore, storeOptions } from '../resolve.js';
import { signingOptions, withStoreLock } from './channel-rollback.js';

export const command: Command = {
  name: 'channel guard',
  summary: "Roll a channel back when Prometheus shows its version's boots failing (cron, CI)",
  usage:
    'channel guard FAMILY CHANNEL | --boot-set SET CHANNEL --store URL --prometheus URL --signing-key FILE [--max-failure-rate 0.10] [--max-timeout-rate R] [--min-boots 10] [--window 30m] [--dry-run]',
  description: [
    "Reads the channel's current version from the signed channel file, asks Prometheus (/api/v1/query;",
    'the PromQL is shown with --debug) how many boots of that version the hosts recorded in the window',
    '(`ingot cache record-boot`, exposed by `ingot metrics` through node_exporter), and rolls the channel',
    'back — signed, with the verdict as the reason in its history — when the failure rate (fail + timeout)',
    'or the timeout rate passes its threshold with at least --min-boots boots. Rates are fractions (0.1)',
    'or percentages (10%). --dry-run only reports (a public key is then enough: --public-key).',
    '',
    `Exit codes: ${GUARD_EXIT.held} held (within the thresholds); ${GUARD_EXIT.rolledBack} rolled back (with --dry-run: would roll back);`,
    `${GUARD_EXIT.undecided} could not decide (fewer boots than --min-boots, or no earlier entry to roll back to);`,
    '1 error (Prometheus unreachable, a signature that does not verify); 2 bad usage.',
    "With --boot-set SET, judges the boot set's channel (channels/boot-sets/SET.json) by the boots hosts",
    'recorded for it (kind="boot_set", version = the kernel label) and rolls that channel back.',
  ].join('\n'),
  positionals: true,
  options: {
    ...storeOptions,
    ...signingOptions,
    prometheus: { type: 'string', valueName: 'URL', description: 'Prometheus server, e.g. http://prometheus:9090' },
    'max-failure-rate': { type: 'string', valueName: 'RATE', description: 'Roll back above this share of failed boots (default: 0.10)' },
    'max-timeout-rate': { type: 'string', valueName: 'RATE', description: 'Roll back above this share of handshake timeouts (default: not checked)' },
    'min-boots': { type: 'string', valueName: 'N', description: 'Decide only with at least N boots in the window (default: 10)' },
    window: { type: 'string', valueName: 'DURATION', description: 'How far back boots count (default: 30m)' },
    'dry-run': { type: 'boolean', description: 'Report the decision, change nothing' },
    'public-key': { type: 'string', valueName: 'FILE', description: 'With --dry-run: verify the channel file with this key instead of the signing key' },
    'boot-set': { type: 'string', valueName: 'SET', description: "Guard a boot set's channel instead of a family's" },
  },
  async run(args, ctx) {
    const bootSet = str(args, 'boot-set');
    const kind = bootSet === undefined ? ('family' as const) : ('boot-set' as const);
    const [family, channel, ...extra] = bootSet === undefined ? args.positionals : [bootSet, ...args.positionals];
    if (!family || !channel || extra.length) throw new UsageError(bootSet === undefined ? 'expected FAMILY CHANNEL' : 'expected --boot-set SET CHANNEL');
    const url = str(args, 'prometheus');
    if (!url)
      throw new UsageError('--prometheus URL is required', {
        hint: "the Prometheus server that scrapes the hosts' node_exporters, e.g. http://prometheus:9090",
      });
    if (!str(args, 'store')) throw new UsageError('--store URL is required');
    const maxFailureRate = rateOption(str(args, 'max-failure-rate'), '--max-failure-rate') ?? 0.1;
    const maxTimeoutRate = rateOption(str(args, 'max-timeout-rate'), '--max-timeout-rate');
    const minBoots = intOption(args, 'min-boots', 10);
    const windowRaw = str(args, 'window');
    const windowMs = windowRaw === undefined ? 30 * 60_000 : parseDuration(windowRaw, '--window');
    if (windowMs < 1000) throw new UsageError('--window must be at least 1s');
    const dryRun = bool(args, 'dry-run');
    const key = await signingKeyFrom(args, ctx);
    const publicArg = str(args, 'public-key');
    if (publicArg && !dryRun) throw new UsageError('--public-key goes with --dry-run; a rollback needs --signing-key');
    const publicKey = key?.publicKey ?? (publicArg ? await readPublicKey(publicArg, ctx.cwd) : undefined);
    if (!publicKey)
      throw new UsageError('no signing key', { hint: 'pass --signing-key FILE or set INGOT_SIGNING_KEY (with --dry-run, --public-key FILE is enough)' });
    const prometheus = prometheusClient(url, { log: ctx.log });
    const store = await resolveStore(args, ctx, undefined);
    let closed = false;
    try {
      const verdict = await guardChannel({
        store,
        publicKey,
        family,
        kind,
        channel,
        prometheus,
        maxFailureRate,
        ...(maxTimeoutRate !== undefined ? { maxTimeoutRate } : {}),
        minBoots,
        windowMs,
        ...(dryRun
          ? {}
          : {
              rollback: (reason: string, judgedPath: string) => {
                closed = true; // withStoreLock closes the store
                return withStoreLock(store, args, ctx, 'channel guard', () =>
                  rollbackChannel(store, key!, { family, kind, channel, reason, expectPath: judgedPath, log: ctx.log, signal: ctx.signal }),
                );
              },
            }),
        log: ctx.log,
        signal: ctx.signal,
      });
      const headline = { held: 'held', 'rolled-back': verdict.dryRun ? 'would roll back' : 'rolled back', undecided: 'could not decide' }[verdict.decision];
      ctx.out.result({ ...verdict, prometheus: prometheus.displayUrl }, () => [
        `${bootSet === undefined ? '' : 'boot set '}${family}/${channel} ${verdict.version}: ${headline}${verdict.decision === 'rolled-back' && verdict.previous ? ` to ${verdict.previous}` : ''}`,
        `  ${verdict.reason}`,
        `  boots: ${verdict.boots.ok} ok, ${verdict.boots.fail} fail, ${verdict.boots.timeout} timeout`,
      ]);
      return { held: GUARD_EXIT.held, 'rolled-back': GUARD_EXIT.rolledBack, undecided: GUARD_EXIT.undecided }[verdict.decision];
    } finally {
      if (!closed) await store.backend.close();
    }
  },
};

/** "0.1" or "10%" as a fraction in [0, 1]. */
export function rateOption(raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/.exec(raw);
  const value = m ? Number(m[1]) / (m[2] ? 100 : 1) : NaN;
  if (!Number.isFinite(value) || value < 0 || value > 1)
    throw new UsageError(`${flag} must be a fraction from 0 to 1 (0.1) or a percentage (10%), got "${raw}"`);
  return value;
}
