/** `ingot pull`: verified download of one image into a host cache, then switch `current`. */
import * as path from 'node:path';
import * as fs from 'node:fs/promises';
import { asIngotError, ErrorCode, ExitCode, UsageError } from '../../errors.js';
import { addPull, updateFleetState, type TargetKind } from '../../cache/fleet-state.js';
import { readHostId } from '../../fleet/rollout.js';
import { pullBootSet } from '../../cache/boot-pull.js';
import type { HostFacts } from '../../cache/compat.js';
import { mergeHostFacts, readHostFacts } from '../../cache/host-facts.js';
import { pull } from '../../cache/pull.js';
import { DEFAULT_KEEP } from '../../cache/retention.js';
import type { RolloutChoice } from '../../cache/select.js';
import { readPublicKey } from '../../trust/key-files.js';
import { bool, list, str, type Command } from '../command.js';
import { connectionsOption, intOption, parseDuration, resolveStore, storeOptions } from '../resolve.js';

export const command: Command = {
  name: 'pull',
  summary: 'Fetch a signed, verified image into a host cache and point `current` at it',
  usage: [
    'pull NAME|PATH|FAMILY --store URL --to DIR --public-key FILE [--channel C [--host-id ID]] [--family F] [--link NAME] [--keep N] [--agent-version V] [--protocol N] [--host-facts FILE]',
    'pull --boot-set NAME --store URL --to DIR --public-key FILE [--channel C [--host-id ID]] [--kernel-link NAME] [--initramfs-link NAME] [--keep N] [--agent-version V] [--protocol N] [--host-facts FILE]',
  ].join('\n       ingot '),
  description: [
    "Checks the store's index.json signature before reading it, refuses an index older than the",
    'last one this cache accepted (INGOT_INDEX_ROLLBACK, --allow-rollback) or past its expiry',
    '(INGOT_INDEX_EXPIRED, --allow-expired), and refuses bytes whose digest or size differ from',
    'the index. Leaves DIR/<file>, DIR/<file>.sha256 (sha256sum -c format) and the symlink',
    'DIR/current (or DIR/current-<family>). With --channel, FAMILY is resolved through the',
    'signed channels/<family>.json; when its entry is rolled out to a share of hosts (channel set',
    '--rollout), this host takes it or stays on the previous entry, decided from --host-id or',
    '/etc/machine-id (docs/fleet.md). Every pull is recorded for `ingot metrics`. Keeps the last N',
    'versions per family (default 3). --link names',
    "the family's link (e.g. `current` for a kernel family); the cache remembers it.",
    '',
    'With --boot-set NAME, pulls a kernel and its initramfs as one pair from the signed boot',
    'manifest boot/NAME.json: refuses a host that is not compatible (agent version, guest-init',
    'protocol, from flags or --host-facts), downloads both with their .sha256 sidecars, and',
    'switches DIR/current and DIR/current-initramfs together (a pair pointer first, then the',
    "links). Keeps the last N pairs. With --channel C, the pair comes from the boot set's signed",
    'channel file channels/boot-sets/NAME.json (channel set --boot-set; rollout shares as above)',
    'and the pinned manifest it names. See docs/trust-and-hosts.md, "Boot sets on hosts".',
  ].join('\n'),
  positionals: true,
  options: {
    ...storeOptions,
    ...connectionsOption,
    to: { type: 'string', valueName: 'DIR', description: 'Host cache directory' },
    'public-key': { type: 'string', valueName: 'FILE', description: 'Trusted minisign public key (file, or the base64 key)' },
    family: { type: 'string', valueName: 'F', description: "Family for the link and retention (default: the image's own)" },
    channel: { type: 'string', valueName: 'C', description: 'Resolve FAMILY through this channel (e.g. stable)' },
    'allow-rollback': { type: 'boolean', description: 'Accept an index or channel file older than the last one accepted' },
    'allow-expired': { type: 'boolean', description: 'Accept an index past its expiry' },
    keep: { type: 'string', valueName: 'N', description: `Versions kept per family (default: ${DEFAULT_KEEP})` },
    link: {
      type: 'string',
      valueName: 'NAME',
      description: "Link name for the image's family (default current-<family>, or current); remembered by the cache",
    },
    'boot-set': { type: 'string', valueName: 'NAME', description: 'Pull the kernel + initramfs pair of the signed boot manifest boot/NAME.json' },
    'kernel-link': { type: 'string', valueName: 'NAME', description: 'With --boot-set: the kernel link (default: current)' },
    'initramfs-link': { type: 'string', valueName: 'NAME', description: 'With --boot-set: the initramfs link (default: current-initramfs)' },
    'agent-version': { type: 'string', valueName: 'V', description: "This host's agent version (enforces minAgentVersion/maxAgentVersion)" },
    protocol: { type: 'string', multiple: true, valueName: 'N', description: 'Guest-init protocol this host speaks' },
    'host-facts': { type: 'string', valueName: 'FILE', description: 'Host facts file: {"agent_version": "1.2.0", "guest_init_protocols": [1]} (flags win)' },
    'lock-timeout': { type: 'string', valueName: 'DURATION', description: 'Wait this long for another pull into the cache (default: 10m)' },
    'host-id': { type: 'string', valueName: 'ID', description: 'Stable host id for canary rollouts (default: /etc/machine-id)' },
  },
  async run(args, ctx) {
    if (str(args, 'boot-set') !== undefined) return pullBootSetCommand(args, ctx);
    return pullFamilyCommand(args, ctx);
  },
};

async function pullFamilyCommand(args: Parameters<Command['run']>[0], ctx: Parameters<Command['run']>[1]): Promise<void> {
  for (const flag of ['kernel-link', 'initramfs-link']) {
    if (str(args, flag) !== undefined) throw new UsageError(`--${flag} goes with --boot-set`);
  }
  const [target, ...extra] = args.positionals;
  if (!target || extra.length > 0) throw new UsageError('expected exactly one NAME, PATH or FAMILY (or --boot-set NAME)');
  const to = str(args, 'to');
  if (!to) throw new UsageError('--to DIR is required (the host cache directory)');
  const keyArg = str(args, 'public-key');
  if (!keyArg) throw new UsageError('--public-key is required: pulls are only from a signed index');
  if (!str(args, 'store')) throw new UsageError('--store URL is required');
  const publicKey = await readPublicKey(keyArg, ctx.cwd);
  const lockTimeout = str(args, 'lock-timeout');
  const channel = str(args, 'channel');
  const hostIdFlag = str(args, 'host-id');
  const cacheDir = path.resolve(ctx.cwd, to);
  const host = await hostFactsFrom(args, ctx);
  const store = await resolveStore(args, ctx, undefined);
  try {
    const progress = { current: undefined as ReturnType<typeof ctx.progress.start> | undefined };
    const result = await recordingPull(
      cacheDir,
      target,
      ctx,
      (r) => ({ kind: 'family', name: r.family, ...(channel ? { channel } : {}) }),
      () =>
        pull({
          store,
          cacheDir,
          publicKey,
          target,
          family: str(args, 'family'),
          channel,
          hostId: () => readHostId(hostIdFlag),
          allowRollback: bool(args, 'allow-rollback'),
          allowExpired: bool(args, 'allow-expired'),
          keep: intOption(args, 'keep', DEFAULT_KEEP),
          link: str(args, 'link'),
          host,
          lockTimeoutMs: lockTimeout === undefined ? undefined : parseDuration(lockTimeout, '--lock-timeout'),
          log: ctx.log,
          signal: ctx.signal,
          onBytes: (n) => {
            progress.current ??= ctx.progress.start(target);
            progress.current.advance(n);
          },
        }),
    );
    progress.current?.done();
    ctx.out.result(result, () => [
      `${result.status === 'cached' ? 'already cached' : 'pulled'}: ${result.localPath}${result.version ? ` (version ${result.version})` : ''}`,
      `${result.link} -> ${result.file}`,
      ...(result.rollout ? [rolloutLine(result.rollout)] : []),
      ...result.removed.map((f) => `removed old version ${f}`),
    ]);
  } finally {
    await store.backend.close();
  }
}

async function pullBootSetCommand(args: Parameters<Command['run']>[0], ctx: Parameters<Command['run']>[1]): Promise<void> {
  if (args.positionals.length > 0) throw new UsageError('--boot-set NAME takes no NAME|PATH|FAMILY argument');
  for (const flag of ['family', 'link']) {
    if (str(args, flag) !== undefined)
      throw new UsageError(`--${flag} does not go with --boot-set`, {
        hint: 'a boot set is named by its boot manifest; its links are --kernel-link and --initramfs-link',
      });
  }
  const set = str(args, 'boot-set')!;
  const to = str(args, 'to');
  if (!to) throw new UsageError('--to DIR is required (the host cache directory)');
  const keyArg = str(args, 'public-key');
  if (!keyArg) throw new UsageError('--public-key is required: pulls are only from a signed index');
  if (!str(args, 'store')) throw new UsageError('--store URL is required');
  const publicKey = await readPublicKey(keyArg, ctx.cwd);
  const lockTimeout = str(args, 'lock-timeout');
  const host = await hostFactsFrom(args, ctx);
  const cacheDir = path.resolve(ctx.cwd, to);
  const store = await resolveStore(args, ctx, undefined);
  try {
    const progress = { current: undefined as ReturnType<typeof ctx.progress.start> | undefined };
    const channel = str(args, 'channel');
    const hostIdFlag = str(args, 'host-id');
    const result = await recordingPull(
      cacheDir,
      `--boot-set ${set}`,
      ctx,
      () => ({ kind: 'boot_set', name: set, ...(channel ? { channel } : {}) }),
      () =>
        pullBootSet({
          store,
          cacheDir,
          publicKey,
          set,
          ...(channel !== undefined ? { channel, hostId: () => readHostId(hostIdFlag) } : {}),
          kernelLink: str(args, 'kernel-link'),
          initramfsLink: str(args, 'initramfs-link'),
          allowRollback: bool(args, 'allow-rollback'),
          allowExpired: bool(args, 'allow-expired'),
          keep: intOption(args, 'keep', DEFAULT_KEEP),
          host,
          lockTimeoutMs: lockTimeout === undefined ? undefined : parseDuration(lockTimeout, '--lock-timeout'),
          log: ctx.log,
          signal: ctx.signal,
          onBytes: (n) => {
            progress.current ??= ctx.progress.start(`boot set ${set}`);
            progress.current.advance(n);
          },
        }),
    );
    progress.current?.done();
    ctx.out.result(result, () => [
      `${result.status === 'cached' ? 'already current' : 'pulled'}: boot set ${set}, kernel ${result.kernel.label} + ${result.initramfs.label} (pair ${result.pair})`,
      `${result.kernel.link} -> ${result.kernel.file}`,
      `${result.initramfs.link} -> ${result.initramfs.file}`,
      ...(result.channel ? [`channel ${set}/${result.channel.name} (sequence ${result.channel.sequence}) -> ${result.channel.version}`] : []),
      ...(result.rollout ? [rolloutLine(result.rollout)] : []),
      ...result.removed.map((f) => `removed old pair file ${f}`),
    ]);
  } finally {
    await store.backend.close();
  }
}

/**
 * Runs a pull and records its outcome in the cache's fleet state (`ingot
 * metrics`: last pull time and result, verification failures, the channel a
 * target follows). Bad usage is not a pull; a failure to record only warns.
 */
async function recordingPull<T>(
  cacheDir: string,
  target: string,
  ctx: Parameters<Command['run']>[1],
  via: (result: T) => { kind: TargetKind; name: string; channel?: string },
  run: () => Promise<T>,
): Promise<T> {
  const note = async (outcome: Parameters<typeof addPull>[1]) => {
    const exists = await fs.stat(cacheDir).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!exists) return;
    await updateFleetState(cacheDir, `ingot pull ${target} (recording)`, (state) => addPull(state, outcome), { lockTimeoutMs: 30_000 }).catch(
      (error: unknown) => ctx.log.warn(`could not record the pull in the cache's fleet state: ${(error as Error).message}`),
    );
  };
  let result: T;
  try {
    result = await run();
  } catch (error) {
    const e = asIngotError(error);
    if (e.exitCode !== ExitCode.usage && e.code !== ErrorCode.aborted && e.code !== ErrorCode.cacheLocked)
      await note({ at: new Date().toISOString(), ok: false, target, code: e.code });
    throw error;
  }
  await note({ at: new Date().toISOString(), ok: true, target, via: via(result) });
  return result;
}

/** Host facts from --host-facts FILE, with --agent-version / --protocol winning (shared by the cache commands). */
export async function hostFactsFrom(args: Parameters<Command['run']>[0], ctx: Parameters<Command['run']>[1]): Promise<HostFacts> {
  const file = str(args, 'host-facts');
  const fromFile = file === undefined ? {} : await readHostFacts(path.resolve(ctx.cwd, file));
  return mergeHostFacts(fromFile, hostFacts(args));
}

/** --agent-version / --protocol as HostFacts (shared by the cache commands). */
export function hostFacts(args: Parameters<Command['run']>[0]): { agentVersion?: string; protocols?: number[] } {
  const protocols = list(args, 'protocol').map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`--protocol must be a non-negative integer, got "${p}"`);
    return n;
  });
  const agentVersion = str(args, 'agent-version');
  return { ...(agentVersion ? { agentVersion } : {}), ...(protocols.length ? { protocols } : {}) };
}

function rolloutLine(rollout: RolloutChoice): string {
  return `rollout ${rollout.share} %: this host's bucket is ${rollout.bucket.toFixed(2)}, so it ${rollout.chosen === 'new' ? 'takes the new version' : 'stays on the previous entry'}`;
}
