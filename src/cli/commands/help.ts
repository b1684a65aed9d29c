/** `ingot help [COMMAND…]`: the same text as `ingot COMMAND --help`, also for groups ("ingot help cache"). */
import { UsageError } from '../../errors.js';
import { suggest } from '../../manifest/problems.js';
import type { Command } from '../command.js';
import { commandHelp, commandWords, findCommand, globalHelp, groupHelp, subcommandsOf } from '../help.js';
import { commands } from '../registry.js';

export const command: Command = {
  name: 'help',
  summary: "Show a command's usage and options (the same as COMMAND --help)",
  usage: 'help [COMMAND…] [--json]',
  description: [
    'Without COMMAND, lists every command. COMMAND may be a group ("ingot help cache") or a',
    'sub-command ("ingot help cache list"). With --json, prints the command\'s name, summary,',
    'usage, description and options as data (for tools and shell integrations).',
  ].join('\n'),
  options: {},
  positionals: true,
  async run(args, ctx) {
    const words = args.positionals;
    if (words.length === 0) {
      ctx.out.result({ commands: Object.entries(commands).map(([name, c]) => ({ name, summary: c.summary })) }, globalHelp);
      return;
    }
    const { name, rest } = findCommand(words);
    if (name && rest.length === 0) {
      const found = (await commands[name]!.load()).command;
      const { run: _run, ...data } = found;
      ctx.out.result(data, () => commandHelp(found));
      return;
    }
    const group = words[0]!;
    if (words.length === 1 && subcommandsOf(group).length > 0) {
      ctx.out.result({ group, commands: subcommandsOf(group).map((n) => ({ name: n, summary: commands[n]!.summary })) }, () => groupHelp(group));
      return;
    }
    const wanted = words.join(' ');
    const guess = suggest(wanted, commandWords());
    throw new UsageError(`unknown command "${wanted}"${guess ? `; did you mean "${guess}"?` : ''}`, { hint: 'run "ingot --help" for the list of commands' });
  },
};
