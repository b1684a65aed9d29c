/** `ingot channel list`: show channel pointers (and their history) per family. */
import { UsageError } from '../../errors.js';
import { channelOwner, channelStack, listChannelFamilies, readChannelFile, readChannelFileUnverified, type ChannelFile } from '../../trust/channels.js';
import { readPublicKey } from '../../trust/key-files.js';
import { bool, str, type Command } from '../command.js';
import { resolveStore, storeOptions } from '../resolve.js';

export const command: Command = {
  name: 'channel list',
  summary: 'List channels per family',
  usage: 'channel list [FAMILY | --boot-set SET] --store URL [--public-key FILE] [--history]',
  description: 'With --public-key every channel file is verified first; without, it is read as-is (and said so).',
  positionals: true,
  options: {
    ...storeOptions,
    'public-key': { type: 'string', valueName: 'FILE', description: 'Verify channel files with this key' },
    history: { type: 'boolean', description: "Show each channel's history" },
    'boot-set': { type: 'string', valueName: 'SET', description: "List a boot set's channels (channels/boot-sets/SET.json)" },
  },
  async run(args, ctx) {
    if (args.positionals.length > 1) throw new UsageError('expected at most one FAMILY');
    const bootSet = str(args, 'boot-set');
    if (bootSet !== undefined && args.positionals.length) throw new UsageError('--boot-set SET takes no FAMILY');
    const kind = bootSet === undefined ? 'family' : 'boot-set';
    const names = bootSet === undefined ? args.positionals : [bootSet];
    const keyArg = str(args, 'public-key');
    const publicKey = keyArg ? await readPublicKey(keyArg, ctx.cwd) : undefined;
    const store = await resolveStore(args, ctx, undefined, { readOnly: true });
    const files: ChannelFile[] = [];
    try {
      const families = names.length ? names : await listChannelFamilies(store, ctx.signal);
      for (const family of families) {
        const file = publicKey
          ? await readChannelFile(store, family, publicKey, ctx.signal, kind)
          : await readChannelFileUnverified(store, family, ctx.signal, kind);
        if (file) files.push(file);
        else if (names.length) throw new UsageError(`${channelOwner(family, kind)} has no channels in ${store.displayUrl}`);
      }
    } finally {
      await store.backend.close();
    }
    ctx.out.result({ verified: Boolean(publicKey), families: files }, () => {
      const lines: string[] = [];
      if (!publicKey) lines.push('(signatures not checked: pass --public-key to verify)');
      for (const file of files) {
        for (const [channel, p] of Object.entries(file.channels).sort(([a], [b]) => a.localeCompare(b))) {
          lines.push(
            `${file.kind === 'boot-set' ? 'boot set ' : ''}${file.family}/${channel}  ${p.version}  ${p.path}  set ${p.setAt}${p.rollout !== undefined ? `  rollout ${p.rollout} %` : ''}`,
          );
          if (!bool(args, 'history')) continue;
          for (const h of channelStack(file, channel).reverse().slice(1))
            lines.push(`    before: ${h.version}  ${h.path}  set ${h.setAt}${h.rollout !== undefined ? `  rollout ${h.rollout} %` : ''}`);
          for (const h of file.history.filter((x) => x.channel === channel && x.reason))
            lines.push(`    ${h.action} to ${h.version} at ${h.setAt}: ${h.reason}`);
        }
      }
      if (files.length === 0) lines.push('no channels');
      return lines;
    });
  },
};
