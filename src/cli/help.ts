/**
 * Help text: the command list (`ingot --help`), a group's sub-commands
 * (`ingot cache`), one command's usage and options (`ingot sync --help`,
 * `ingot help sync`), and finding a command from the first words of argv.
 */
import { groupByArea } from './areas.js';
import { globalOptions, type Command, type OptionSpec } from './command.js';
import { commands } from './registry.js';

/** The registered command that argv starts with ("cache list" before "cache"), and the rest. */
export function findCommand(argv: readonly string[]): { name?: string; rest: string[] } {
  const two = argv.slice(0, 2).join(' ');
  if (argv.length >= 2 && commands[two]) return { name: two, rest: argv.slice(2) };
  const one = argv[0];
  if (one !== undefined && commands[one]) return { name: one, rest: argv.slice(1) };
  return { rest: [...argv] };
}

/** Every command module, loaded (in registry order): for the CLI reference and shell completion. */
export function loadCommands(): Promise<Command[]> {
  return Promise.all(Object.values(commands).map(async (entry) => (await entry.load()).command));
}

/** Names of the sub-commands of a group ("cache" → ["cache list", …]), in registry order. */
export function subcommandsOf(group: string): string[] {
  return Object.keys(commands).filter((n) => n.startsWith(`${group} `));
}

/** What a user may type as a command: every name, and every group's word ("cache"). For suggestions. */
export function commandWords(): string[] {
  const names = Object.keys(commands);
  return [...new Set([...names, ...names.filter((n) => n.includes(' ')).map((n) => n.split(' ')[0]!)])];
}

function commandList(names: readonly string[]): string[] {
  const width = Math.max(...names.map((n) => n.length));
  return names.map((n) => `  ${n.padEnd(width)}  ${commands[n]!.summary}`);
}

/** `ingot --help`: every command, grouped by area. */
export function globalHelp(): string {
  const lines = ['ingot — machine images from a declaration in Git to a booted, verified VM', '', 'Usage: ingot <command> [options]', ''];
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  for (const { area, names } of groupByArea(Object.keys(commands))) {
    lines.push(`${area.title}:`, ...names.map((n) => `  ${n.padEnd(width)}  ${commands[n]!.summary}`), '');
  }
  lines.push(
    'Every command takes --json, --log-format text|json, --debug, --quiet and --help.',
    '"ingot help COMMAND" shows a command\'s options; "ingot --version" prints the version.',
    'Exit codes: 0 success; 1 the work ran and something failed; 2 bad usage or invalid input.',
  );
  return lines.join('\n');
}

/** `ingot cache`: the group's sub-commands. */
export function groupHelp(group: string): string {
  return [
    `Usage: ingot ${group} <command> [options]`,
    '',
    'Commands:',
    ...commandList(subcommandsOf(group)),
    '',
    `Run "ingot help ${group} COMMAND" for a command's options.`,
  ].join('\n');
}

/** The flag column of an option: "-m, --manifest FILE". */
export function flagText(name: string, o: OptionSpec): string {
  return `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.valueName ?? 'VALUE'}` : ''}`;
}

/** `ingot sync --help`: usage, summary, description, options (the command's, then the global ones). */
export function commandHelp(command: Command): string {
  const options = { ...command.options, ...globalOptions } as Record<string, OptionSpec>;
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? '' : '    '}${flagText(name, o)}`;
    return [flag, o.description + (o.multiple ? ' (repeatable)' : '')] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length));
  return [
    `Usage: ingot ${command.usage}`,
    '',
    command.summary,
    ...(command.description ? ['', command.description] : []),
    '',
    'Options:',
    ...rows.map(([f, d]) => `  ${f.padEnd(width)}  ${d}`),
  ].join('\n');
}
