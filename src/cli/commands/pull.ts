/** `ingot pull`: verified download of one image into a host cache, then switch `current`. */
import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import { pull } from '../../cache/pull.js';
import { DEFAULT_KEEP } from '../../cache/retention.js';
import { readPublicKey } from '../../trust/key-files.js';
import { bool, list, str, type Command } from '../command.js';
import { intOption, parseDuration, resolveStore, storeOptions } from '../resolve.js';

export const command: Command = {
  name: 'pull',
  summary: 'Fetch a signed, verified image into a host cache and point `current` at it',
  usage: 'pull NAME|PATH|FAMILY --store URL --to DIR --public-key FILE [--channel C] [--family F] [--keep N] [--agent-version V] [--protocol N]',
  description: [
    'Checks the store\'s index.json signature before reading it, refuses an index older than the',
    'last one this cache accepted (INGOT_INDEX_ROLLBACK, --allow-rollback) or past its expiry',
    '(INGOT_INDEX_EXPIRED, --allow-expired), and refuses bytes whose digest or size differ from',
    'the index. Leaves DIR/<file>, DIR/<file>.sha256 (sha256sum -c format) and the symlink',
    'DIR/current (or DIR/current-<family>). With --channel, FAMILY is resolved through the',
    'signed channels/<family>.json. Keeps the last N versions per family (default 3).',
  ].join('\n'),
  positionals: true,
  options: {
    ...storeOptions,
    to: { type: 'string', valueName: 'DIR', description: 'Host cache directory' },
    'public-key': { type: 'string', valueName: 'FILE', description: 'Trusted minisign public key (file, or the base64 key)' },
    family: { type: 'string', valueName: 'F', description: "Family for the link and retention (default: the image's own)" },
    channel: { type: 'string', valueName: 'C', description: 'Resolve FAMILY through this channel (e.g. stable)' },
    'allow-rollback': { type: 'boolean', description: 'Accept an index or channel file older than the last one accepted' },
    'allow-expired': { type: 'boolean', description: 'Accept an index past its expiry' },
    keep: { type: 'string', valueName: 'N', description: `Versions kept per family (default: ${DEFAULT_KEEP})` },
    'agent-version': { type: 'string', valueName: 'V', description: "This host's agent version (enforces minAgentVersion/maxAgentVersion)" },
    protocol: { type: 'string', multiple: true, valueName: 'N', description: 'Guest-init protocol this host speaks' },
    'lock-timeout': { type: 'string', valueName: 'DURATION', description: 'Wait this long for another pull into the cache (default: 10m)' },
  },
  async run(args, ctx) {
    const [target, ...extra] = args.positionals;
    if (!target || extra.length > 0) throw new UsageError('expected exactly one NAME, PATH or FAMILY');
    const to = str(args, 'to');
    if (!to) throw new UsageError('--to DIR is required (the host cache directory)');
    const keyArg = str(args, 'public-key');
    if (!keyArg) throw new UsageError('--public-key is required: pulls are only from a signed index');
    if (!str(args, 'store')) throw new UsageError('--store URL is required');
    const publicKey = await readPublicKey(keyArg, ctx.cwd);
    const lockTimeout = str(args, 'lock-timeout');
    const store = await resolveStore(args, ctx, undefined);
    try {
      const progress = { current: undefined as ReturnType<typeof ctx.progress.start> | undefined };
      const result = await pull({
        store,
        cacheDir: path.resolve(ctx.cwd, to),
        publicKey,
        target,
        family: str(args, 'family'),
        channel: str(args, 'channel'),
        allowRollback: bool(args, 'allow-rollback'),
        allowExpired: bool(args, 'allow-expired'),
        keep: intOption(args, 'keep', DEFAULT_KEEP),
        host: hostFacts(args),
        lockTimeoutMs: lockTimeout === undefined ? undefined : parseDuration(lockTimeout, '--lock-timeout'),
        log: ctx.log,
        signal: ctx.signal,
        onBytes: (n) => {
          progress.current ??= ctx.progress.start(target);
          progress.current.advance(n);
        },
      });
      progress.current?.done();
      ctx.out.result(result, () => [
        `${result.status === 'cached' ? 'already cached' : 'pulled'}: ${result.localPath}${result.version ? ` (version ${result.version})` : ''}`,
        `${result.link} -> ${result.file}`,
        ...result.removed.map((f) => `removed old version ${f}`),
      ]);
    } finally {
      await store.backend.close();
    }
  },
};

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
