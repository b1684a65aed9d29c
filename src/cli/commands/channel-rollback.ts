/** `ingot channel rollback`: move a channel back to its previous entry. */
import { UsageError } from '../../errors.js';
import type { ImageStore } from '../../store/image-store.js';
import { rollbackChannel } from '../../trust/channels.js';
import { str, type Command, type CommandContext, type OptionSpec, type ParsedArgs } from '../command.js';
import { lockOptions, SIGNING_LOCK_TIMEOUT_MS, takeLock } from '../lock.js';
import { requireSigningKey, resolveStore, storeOptions } from '../resolve.js';

/** Signing-key options shared by the channel commands. */
export const signingOptions = {
  'signing-key': { type: 'string', valueName: 'FILE', description: 'minisign secret key (default: INGOT_SIGNING_KEY)' },
  'password-file': { type: 'string', valueName: 'FILE', description: 'Password of the key (default: INGOT_SIGNING_PASSWORD)' },
  ...lockOptions,
} as const satisfies Record<string, OptionSpec>;

/** Runs `fn` holding the store's run lock (--lock-timeout, --break-lock, --no-lock), then closes the store. */
export async function withStoreLock<T>(store: ImageStore, args: ParsedArgs, ctx: CommandContext, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    const lock = await takeLock(store, args, ctx, what, SIGNING_LOCK_TIMEOUT_MS);
    try {
      return await fn();
    } finally {
      await lock.release();
    }
  } finally {
    await store.backend.close();
  }
}

export const command: Command = {
  name: 'channel rollback',
  summary: 'Move a channel back to its previous entry',
  usage: 'channel rollback FAMILY CHANNEL | --boot-set SET CHANNEL --store URL --signing-key FILE [--reason TEXT]',
  description: 'Repeated rollbacks walk further back through the channel history. --reason is recorded in the history.',
  positionals: true,
  options: {
    ...storeOptions,
    ...signingOptions,
    reason: { type: 'string', valueName: 'TEXT', description: 'Why: recorded in the channel history (signed)' },
    'boot-set': { type: 'string', valueName: 'SET', description: "Move a boot set's channel back (to the manifest pinned before)" },
  },
  async run(args, ctx) {
    const bootSet = str(args, 'boot-set');
    const [family, channel, ...extra] = bootSet === undefined ? args.positionals : [bootSet, ...args.positionals];
    if (!family || !channel || extra.length) throw new UsageError(bootSet === undefined ? 'expected FAMILY CHANNEL' : 'expected --boot-set SET CHANNEL');
    const reason = str(args, 'reason');
    if (reason !== undefined && (reason.length > 1000 || /[\x00-\x1f\x7f]/.test(reason)))
      throw new UsageError('--reason must be one line of at most 1000 characters');
    const key = await requireSigningKey(args, ctx);
    const store = await resolveStore(args, ctx, undefined);
    const file = await withStoreLock(store, args, ctx, 'channel rollback', () =>
      rollbackChannel(store, key, {
        family,
        channel,
        ...(bootSet !== undefined ? { kind: 'boot-set' as const } : {}),
        ...(reason ? { reason } : {}),
        log: ctx.log,
        signal: ctx.signal,
      }),
    );
    const pointer = file.channels[channel]!;
    ctx.out.result(
      { ...(bootSet === undefined ? { family } : { bootSet }), channel, ...pointer, sequence: file.sequence },
      () => `${bootSet === undefined ? '' : 'boot set '}${family}/${channel} rolled back to ${pointer.version} (${pointer.path})`,
    );
  },
};
