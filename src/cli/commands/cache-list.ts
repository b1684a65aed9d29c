/** `ingot cache list`: what a host cache holds, per family, and where `current` points. */
import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import { listCache } from '../../cache/switch.js';
import { str, type Command } from '../command.js';

export const command: Command = {
  name: 'cache list',
  summary: 'List the versions in a host cache and which one is current',
  usage: 'cache list --cache DIR',
  options: { cache: { type: 'string', valueName: 'DIR', description: 'Host cache directory' } },
  async run(args, ctx) {
    const dir = str(args, 'cache');
    if (!dir) throw new UsageError('--cache DIR is required');
    const families = await listCache(path.resolve(ctx.cwd, dir));
    ctx.out.result({ families }, () => {
      if (families.length === 0) return 'the cache is empty';
      return families.flatMap((f) => [
        `${f.link} -> ${f.current ?? '(none)'}`,
        ...f.entries.map((e) => `  ${e.current ? '*' : ' '} ${(e.version ?? '-').padEnd(14)} ${e.file}  pulled ${e.pulledAt}`),
      ]);
    });
  },
};
