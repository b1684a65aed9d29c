/** `ingot cache list`: what a host cache holds, per family and per boot pair slot, and what is current. */
import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import { listBootPairs } from '../../cache/boot-switch.js';
import { listCache } from '../../cache/switch.js';
import { str, type Command } from '../command.js';

export const command: Command = {
  name: 'cache list',
  summary: 'List the versions in a host cache and which one is current',
  usage: 'cache list --cache DIR [--json]',
  description: [
    'Images per family (their link, and * for the current version), then boot pairs per slot',
    '(kernel + initramfs, * for the current pair). --json prints',
    '{ cache, families: [{ family, link, current, entries }], bootSets: [{ set, links, current,',
    'consistent, pairs }] } — documented in docs/trust-and-hosts.md.',
  ].join('\n'),
  options: { cache: { type: 'string', valueName: 'DIR', description: 'Host cache directory' } },
  async run(args, ctx) {
    const dir = str(args, 'cache');
    if (!dir) throw new UsageError('--cache DIR is required');
    const cache = path.resolve(ctx.cwd, dir);
    const families = await listCache(cache);
    const bootSets = await listBootPairs(cache);
    ctx.out.result({ cache, families, bootSets }, () => {
      if (families.length === 0 && bootSets.length === 0) return 'the cache is empty';
      return [
        ...families.flatMap((f) => [
          `${f.link} -> ${f.current ?? '(none)'}`,
          ...f.entries.map((e) => `  ${e.current ? '*' : ' '} ${(e.version ?? '-').padEnd(14)} ${e.file}  pulled ${e.pulledAt}`),
        ]),
        ...bootSets.flatMap((s) => [
          `boot set ${s.set}: ${s.links.kernel} + ${s.links.initramfs}${s.consistent ? '' : ' (switch not completed: the next boot command completes it)'}`,
          ...s.pairs.map((p) => `  ${p.current ? '*' : ' '} ${p.kernel.label.padEnd(20)} ${p.initramfs.label.padEnd(28)} ${p.id}  pulled ${p.pulledAt}`),
        ]),
      ];
    });
  },
};
