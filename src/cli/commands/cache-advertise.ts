/** `ingot cache advertise`: what a host agent tells the control plane, as the guest-init document shapes it. */
import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import { advertise } from '../../cache/boot-switch.js';
import { str, type Command } from '../command.js';
import { hostFactsFrom } from './pull.js';

export const command: Command = {
  name: 'cache advertise',
  summary: 'Print the kernel versions, guest-init protocols and current default of a host cache',
  usage: 'cache advertise --cache DIR [--boot-set NAME] [--kernel-link NAME] [--agent-version V] [--protocol N] [--host-facts FILE] [--json]',
  description: [
    'Prints { kernel_versions, guest_init_protocols, current_default: { kernel, initramfs } }:',
    'the cached boot pairs this host can run (newest pull first; with host facts, incompatible',
    'pairs are left out), the protocols the host speaks (its facts, else those of the cached',
    'initramfs images), and the pair its links point at ("6.1.50-20251217a",',
    '"guestinit-1.0.0-20251217a"). Without --json the same document is printed.',
  ].join('\n'),
  options: {
    cache: { type: 'string', valueName: 'DIR', description: 'Host cache directory' },
    'boot-set': { type: 'string', valueName: 'NAME', description: 'Only the pairs of this boot set' },
    'kernel-link': { type: 'string', valueName: 'NAME', description: 'The slot whose current pair is the default (when several)' },
    'agent-version': { type: 'string', valueName: 'V', description: "This host's agent version" },
    protocol: { type: 'string', multiple: true, valueName: 'N', description: 'Guest-init protocol this host speaks' },
    'host-facts': { type: 'string', valueName: 'FILE', description: 'Host facts file (agent_version, guest_init_protocols); flags win' },
  },
  async run(args, ctx) {
    const dir = str(args, 'cache');
    if (!dir) throw new UsageError('--cache DIR is required');
    const ad = await advertise(path.resolve(ctx.cwd, dir), {
      set: str(args, 'boot-set'),
      kernelLink: str(args, 'kernel-link'),
      host: await hostFactsFrom(args, ctx),
    });
    ctx.out.result(ad, () => JSON.stringify(ad, null, 2));
  },
};
