/** `ingot cache rollback`: point `current` (or a boot pair) back at what was pulled before the current one. */
import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import { rollbackBootPair } from '../../cache/boot-switch.js';
import { rollbackCached } from '../../cache/switch.js';
import { str, type Command } from '../command.js';
import { hostFactsFrom } from './pull.js';

export const command: Command = {
  name: 'cache rollback',
  summary: 'Point `current` back at the previously pulled version (or boot pair)',
  usage: 'cache rollback --cache DIR [--family F | --boot-set NAME [--kernel-link NAME]] [--agent-version V] [--protocol N] [--host-facts FILE]',
  description: [
    'Order is pull time; repeated rollbacks walk further back. Nothing is downloaded.',
    'With --boot-set, the kernel and its initramfs go back together to the pair pulled before',
    'the current one (the pair pointer first, then current-initramfs, then current).',
  ].join('\n'),
  options: {
    cache: { type: 'string', valueName: 'DIR', description: 'Host cache directory' },
    family: { type: 'string', valueName: 'F', description: "Family whose link moves (needed when the cache holds several; '' for images without a family)" },
    'boot-set': { type: 'string', valueName: 'NAME', description: 'Roll back the kernel + initramfs pair of this boot set' },
    'kernel-link': { type: 'string', valueName: 'NAME', description: 'With --boot-set: the pair slot, by its kernel link (when several)' },
    'agent-version': { type: 'string', valueName: 'V', description: "This host's agent version" },
    protocol: { type: 'string', multiple: true, valueName: 'N', description: 'Guest-init protocol this host speaks' },
    'host-facts': { type: 'string', valueName: 'FILE', description: 'Host facts file (agent_version, guest_init_protocols); flags win' },
  },
  async run(args, ctx) {
    const dir = str(args, 'cache');
    if (!dir) throw new UsageError('--cache DIR is required');
    const host = await hostFactsFrom(args, ctx);
    const set = str(args, 'boot-set');
    if (set !== undefined || str(args, 'kernel-link') !== undefined) {
      if (str(args, 'family') !== undefined) throw new UsageError('--family does not go with --boot-set');
      const result = await rollbackBootPair(path.resolve(ctx.cwd, dir), { set, kernelLink: str(args, 'kernel-link'), host, log: ctx.log, signal: ctx.signal });
      ctx.out.result(result, () => [
        `boot set ${result.set}: kernel ${result.kernel.label} + ${result.initramfs.label} (pair ${result.pair}${result.previous ? `, was ${result.previous}` : ''})`,
        `${result.kernel.link} -> ${result.kernel.file}`,
        `${result.initramfs.link} -> ${result.initramfs.file}`,
      ]);
      return;
    }
    const result = await rollbackCached(path.resolve(ctx.cwd, dir), { family: str(args, 'family'), host, log: ctx.log, signal: ctx.signal });
    ctx.out.result(result, () => `${result.link} -> ${result.file}${result.previous ? ` (was ${result.previous})` : ''}`);
  },
};
