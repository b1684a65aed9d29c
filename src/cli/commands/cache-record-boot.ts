/** `ingot cache record-boot`: record one boot outcome of a cached version (for `ingot metrics`). */
import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import { bootSetNameProblem } from '../../cache/boot-pairs.js';
import { BOOT_RESULTS, recordBoot, type BootResult, type TargetKind } from '../../cache/fleet-state.js';
import { checkName } from '../../trust/channels.js';
import { str, type Command } from '../command.js';
import { exportTextfile } from './metrics.js';
import { parseDuration } from '../resolve.js';

export const command: Command = {
  name: 'cache record-boot',
  summary: 'Record a boot outcome (ok, fail, timeout) of a cached version, for `ingot metrics`',
  usage: 'cache record-boot --cache DIR --family F|--boot-set NAME --result ok|fail|timeout [--version V] [--handshake-ms N] [--textfile FILE]',
  description: [
    "Adds one boot to the cache's counters in .ingot/fleet.json (under the cache lock, written",
    'atomically: safe from concurrent boot hooks and pulls). --version defaults to the version the',
    'cache currently points at (for a boot set: the kernel label, e.g. 6.1.50-20251217a). Run it',
    'from the agent after each VM boot, then `ingot metrics` exposes the counts (or give --textfile FILE',
    'to rewrite the metrics textfile right away, as `ingot metrics --textfile FILE` would). See docs/fleet.md.',
  ].join('\n'),
  options: {
    cache: { type: 'string', valueName: 'DIR', description: 'Host cache directory' },
    family: { type: 'string', valueName: 'F', description: 'The family whose image booted' },
    'boot-set': { type: 'string', valueName: 'NAME', description: 'The boot set whose kernel + initramfs pair booted' },
    version: { type: 'string', valueName: 'V', description: 'Version booted (default: the current one)' },
    result: {
      type: 'string',
      valueName: 'ok|fail|timeout',
      choices: BOOT_RESULTS,
      description: 'Outcome: ok, fail, or timeout (no guest-init handshake in time)',
    },
    'handshake-ms': { type: 'string', valueName: 'N', description: 'Guest-init handshake latency in milliseconds' },
    'lock-timeout': { type: 'string', valueName: 'DURATION', description: 'Wait this long for a pull holding the cache (default: 1m)' },
    textfile: { type: 'string', valueName: 'FILE', description: 'Then rewrite this metrics textfile (as `ingot metrics --textfile FILE`)' },
  },
  async run(args, ctx) {
    const dir = str(args, 'cache');
    if (!dir) throw new UsageError('--cache DIR is required');
    const family = str(args, 'family');
    const set = str(args, 'boot-set');
    if ((family === undefined) === (set === undefined)) throw new UsageError('give exactly one of --family F or --boot-set NAME');
    const kind: TargetKind = family !== undefined ? 'family' : 'boot_set';
    const name = family !== undefined ? checkName('family', family) : set!;
    const setProblem = set !== undefined ? bootSetNameProblem(set) : undefined;
    if (setProblem) throw new UsageError(`--boot-set ${JSON.stringify(set)}: ${setProblem}`);
    const result = str(args, 'result');
    if (!BOOT_RESULTS.includes(result as BootResult))
      throw new UsageError(`--result must be ok, fail or timeout, got ${result === undefined ? 'nothing' : JSON.stringify(result)}`);
    const version = str(args, 'version');
    if (version !== undefined && (version === '' || version.length > 128 || /[\x00-\x1f\x7f]/.test(version))) {
      throw new UsageError(`--version ${JSON.stringify(version)}: expected 1 to 128 printable characters`);
    }
    const rawMs = str(args, 'handshake-ms');
    const handshakeMs = rawMs === undefined ? undefined : Number(rawMs);
    if (handshakeMs !== undefined && (!/^\d+(\.\d+)?$/.test(rawMs!) || !Number.isFinite(handshakeMs) || handshakeMs > 86_400_000)) {
      throw new UsageError(`--handshake-ms must be a number of milliseconds (0 to 86400000), got "${rawMs}"`);
    }
    const lockTimeout = str(args, 'lock-timeout');
    const cache = path.resolve(ctx.cwd, dir);
    const recorded = await recordBoot(cache, {
      kind,
      name,
      result: result as BootResult,
      ...(version !== undefined ? { version } : {}),
      ...(handshakeMs !== undefined ? { handshakeMs } : {}),
      current: async () => (await (await import('../../fleet/metrics.js')).inventory(cache)).targets.find((t) => t.kind === kind && t.name === name)?.current,
      ...(lockTimeout !== undefined ? { lockTimeoutMs: parseDuration(lockTimeout, '--lock-timeout') } : {}),
      signal: ctx.signal,
    });
    const { boot, totals } = recorded;
    const textfile = str(args, 'textfile');
    if (textfile !== undefined) await exportTextfile(cache, path.resolve(ctx.cwd, textfile), ctx);
    ctx.out.result(
      { cache, ...boot, totals: totals.boots },
      () =>
        `recorded ${boot.result} boot of ${kind === 'family' ? 'family' : 'boot set'} ${name} ${boot.version}${boot.handshakeMs !== undefined ? ` (handshake ${boot.handshakeMs} ms)` : ''}: ${totals.boots.ok} ok, ${totals.boots.fail} fail, ${totals.boots.timeout} timeout so far`,
    );
  },
};
