/** `ingot cache use`: point `current` (or a boot pair) at a cached version. */
import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import { useBootPair } from '../../cache/boot-switch.js';
import { useCached } from '../../cache/switch.js';
import { str, type Command } from '../command.js';
import { hostFactsFrom } from './pull.js';

export const command: Command = {
  name: 'cache use',
  summary: 'Point `current` at a cached version (or boot pair)',
  usage: 'cache use VERSION --cache DIR [--family F | --boot-set NAME [--kernel-link NAME]] [--agent-version V] [--protocol N] [--host-facts FILE]',
  description: [
    'VERSION is an image version or a cached file name. Nothing is downloaded.',
    'With --boot-set, VERSION names a cached pair: its kernel ("6.1.50-20251217a"), its initramfs',
    '("guestinit-1.0.0-20251217a" or "1.0.0"), a file name, or the pair id; both links move together.',
  ].join('\n'),
  positionals: true,
  options: {
    cache: { type: 'string', valueName: 'DIR', description: 'Host cache directory' },
    family: { type: 'string', valueName: 'F', description: "Family (needed when VERSION exists in several; '' for images without a family)" },
    'boot-set': { type: 'string', valueName: 'NAME', description: 'Switch the kernel + initramfs pair of this boot set' },
    'kernel-link': { type: 'string', valueName: 'NAME', description: 'With --boot-set: the pair slot, by its kernel link (when several)' },
    'agent-version': { type: 'string', valueName: 'V', description: "This host's agent version" },
    protocol: { type: 'string', multiple: true, valueName: 'N', description: 'Guest-init protocol this host speaks' },
    'host-facts': { type: 'string', valueName: 'FILE', description: 'Host facts file (agent_version, guest_init_protocols); flags win' },
  },
  async run(args, ctx) {
    const dir = str(args, 'cache');
    const [version, ...extra] = args.positionals;
    if (!dir) throw new UsageError('--cache DIR is required');
    if (!version || extra.length) throw new UsageError('expected exactly one VERSION');
    const host = await hostFactsFrom(args, ctx);
    const set = str(args, 'boot-set');
    if (set !== undefined || str(args, 'kernel-link') !== undefined) {
      if (str(args, 'family') !== undefined) throw new UsageError('--family does not go with --boot-set');
      const result = await useBootPair(path.resolve(ctx.cwd, dir), version, {
        set,
        kernelLink: str(args, 'kernel-link'),
        host,
        log: ctx.log,
        signal: ctx.signal,
      });
      ctx.out.result(result, () => [`${result.kernel.link} -> ${result.kernel.file}`, `${result.initramfs.link} -> ${result.initramfs.file}`]);
      return;
    }
    const result = await useCached(path.resolve(ctx.cwd, dir), version, { family: str(args, 'family'), host, log: ctx.log, signal: ctx.signal });
    ctx.out.result(result, () => `${result.link} -> ${result.file}${result.previous ? ` (was ${result.previous})` : ''}`);
  },
};
