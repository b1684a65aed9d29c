/** `ingot channel set`: point a family's channel at a published version (signed, with history). */
import { UsageError } from '../../errors.js';
import { parseRollout } from '../../fleet/rollout.js';
import { setBootSetChannel } from '../../trust/boot-channels.js';
import { setChannel } from '../../trust/channels.js';
import { signStoreIndex } from '../../trust/sign-store.js';
import { str, type Command, type CommandContext, type ParsedArgs } from '../command.js';
import { requireSigningKey, resolveStore, storeOptions } from '../resolve.js';
import { indexExpiryFlag } from '../values.js';
import { signingOptions, withStoreLock } from './channel-rollback.js';

export const command: Command = {
  name: 'channel set',
  summary: "Point a family's channel (stable, canary, …) at a published version",
  usage: [
    'channel set FAMILY CHANNEL VERSION --store URL --signing-key FILE [--rollout 10%] [--expires 7d]',
    'channel set --boot-set SET CHANNEL [VERSION] --store URL --signing-key FILE [--rollout 10%]',
  ].join('\n'),
  description: [
    'VERSION is the `version` of a published image of FAMILY (or its path). Writes channels/FAMILY.json',
    'and its .minisig, and re-signs index.json if it does not list the image yet (hosts check both).',
    'With --rollout 10%, only that share of hosts takes VERSION (each decides from its host id); the',
    "others stay on the channel's previous entry. Raise it by setting the same VERSION again with a",
    'larger share (re-signed; the previous entry stays the previous one), or without --rollout for 100 %.',
    'With --boot-set SET, pins the current signed boot manifest boot/SET.json as boot/SET/<sha256>.json',
    'and points the channel (channels/boot-sets/SET.json) at it; VERSION, when given, is its kernel',
    'label (<kernel version>-<build id>) or the version of an earlier entry of that channel file.',
  ].join('\n'),
  positionals: true,
  options: {
    ...storeOptions,
    ...signingOptions,
    expires: { type: 'string', valueName: 'DURATION', description: 'Validity if the index is re-signed (default: 7d)' },
    rollout: { type: 'string', valueName: 'PERCENT', description: 'Canary: the share of hosts that take VERSION, e.g. 10% (default: 100%)' },
    'boot-set': { type: 'string', valueName: 'SET', description: "Move a boot set's channel (pins the current boot manifest)" },
  },
  async run(args, ctx) {
    if (str(args, 'boot-set') !== undefined) return setBootSetCommand(args, ctx);
    const [family, channel, version, ...extra] = args.positionals;
    if (!family || !channel || !version || extra.length) throw new UsageError('expected FAMILY CHANNEL VERSION');
    const expiresInMs = indexExpiryFlag(str(args, 'expires'), '--expires');
    const rolloutRaw = str(args, 'rollout');
    const rollout = rolloutRaw === undefined ? undefined : parseRollout(rolloutRaw);
    const key = await requireSigningKey(args, ctx);
    const store = await resolveStore(args, ctx, undefined);
    const { file, index } = await withStoreLock(store, args, ctx, 'channel set', async () => {
      const file = await setChannel(store, key, { family, channel, version, ...(rollout !== undefined ? { rollout } : {}), log: ctx.log, signal: ctx.signal });
      // A channel is only usable by hosts when the signed index lists its target: re-sign if needed.
      const index = await signStoreIndex(store, key, { log: ctx.log, signal: ctx.signal, expiresInMs });
      return { file, index };
    });
    const pointer = file.channels[channel]!;
    ctx.out.result({ family, channel, ...pointer, sequence: file.sequence, indexVersion: index.version, indexChanged: index.changed }, () => [
      `${family}/${channel} -> ${pointer.version} (${pointer.path})${pointer.rollout !== undefined ? ` for ${pointer.rollout} % of hosts` : ''}`,
      ...(index.changed ? [`signed index version ${index.version}`] : []),
    ]);
  },
};

async function setBootSetCommand(args: ParsedArgs, ctx: CommandContext): Promise<void> {
  const set = str(args, 'boot-set')!;
  const [channel, version, ...extra] = args.positionals;
  if (!channel || extra.length) throw new UsageError('expected --boot-set SET CHANNEL [VERSION]');
  if (str(args, 'expires') !== undefined)
    throw new UsageError('--expires does not go with --boot-set', { hint: 'a boot set channel does not re-sign the index' });
  const rolloutRaw = str(args, 'rollout');
  const rollout = rolloutRaw === undefined ? undefined : parseRollout(rolloutRaw);
  const key = await requireSigningKey(args, ctx);
  const store = await resolveStore(args, ctx, undefined);
  const { file, pinned } = await withStoreLock(store, args, ctx, 'channel set', () =>
    setBootSetChannel(store, key, {
      family: set,
      channel,
      ...(version !== undefined ? { version } : {}),
      ...(rollout !== undefined ? { rollout } : {}),
      log: ctx.log,
      signal: ctx.signal,
    }),
  );
  const pointer = file.channels[channel]!;
  ctx.out.result({ bootSet: set, channel, ...pointer, sequence: file.sequence, pinned }, () => [
    `boot set ${set}/${channel} -> ${pointer.version} (${pointer.path})${pointer.rollout !== undefined ? ` for ${pointer.rollout} % of hosts` : ''}`,
    ...(pinned ? [`pinned the boot manifest as ${pointer.path}`] : []),
  ]);
}
