/** `ingot cache rollback`: point `current` at the version pulled before the current one. */
import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import { rollbackCached } from '../../cache/switch.js';
import { str, type Command } from '../command.js';
import { hostFacts } from './pull.js';

export const command: Command = {
  name: 'cache rollback',
  summary: 'Point `current` back at the previously pulled version',
  usage: 'cache rollback --cache DIR [--family F]',
  description: 'Order is pull time; repeated rollbacks walk further back. Nothing is downloaded.',
  options: {
    cache: { type: 'string', valueName: 'DIR', description: 'Host cache directory' },
    family: { type: 'string', valueName: 'F', description: 'Family whose link moves (needed when the cache holds several)' },
    'agent-version': { type: 'string', valueName: 'V', description: "This host's agent version" },
    protocol: { type: 'string', multiple: true, valueName: 'N', description: 'Guest-init protocol this host speaks' },
  },
  async run(args, ctx) {
    const dir = str(args, 'cache');
    if (!dir) throw new UsageError('--cache DIR is required');
    const result = await rollbackCached(path.resolve(ctx.cwd, dir), { family: str(args, 'family'), host: hostFacts(args), log: ctx.log, signal: ctx.signal });
    ctx.out.result(result, () => `${result.link} -> ${result.file}${result.previous ? ` (was ${result.previous})` : ''}`);
  },
};
