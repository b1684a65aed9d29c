/** `ingot cache use`: point `current` at a cached version. */
import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import { useCached } from '../../cache/switch.js';
import { str, type Command } from '../command.js';
import { hostFacts } from './pull.js';

export const command: Command = {
  name: 'cache use',
  summary: 'Point `current` at a cached version',
  usage: 'cache use VERSION --cache DIR [--family F] [--agent-version V] [--protocol N]',
  description: 'VERSION is an image version or a cached file name. Nothing is downloaded.',
  positionals: true,
  options: {
    cache: { type: 'string', valueName: 'DIR', description: 'Host cache directory' },
    family: { type: 'string', valueName: 'F', description: 'Family (needed when VERSION exists in several)' },
    'agent-version': { type: 'string', valueName: 'V', description: "This host's agent version" },
    protocol: { type: 'string', multiple: true, valueName: 'N', description: 'Guest-init protocol this host speaks' },
  },
  async run(args, ctx) {
    const dir = str(args, 'cache');
    const [version, ...extra] = args.positionals;
    if (!dir) throw new UsageError('--cache DIR is required');
    if (!version || extra.length) throw new UsageError('expected exactly one VERSION');
    const result = await useCached(path.resolve(ctx.cwd, dir), version, { family: str(args, 'family'), host: hostFacts(args), log: ctx.log, signal: ctx.signal });
    ctx.out.result(result, () => `${result.link} -> ${result.file}${result.previous ? ` (was ${result.previous})` : ''}`);
  },
};
