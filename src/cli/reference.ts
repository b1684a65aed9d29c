/**
 * The CLI reference (docs/cli.md), generated from the command registry:
 * every command's summary, usage, description and options, grouped by area,
 * one anchor per command. Pure and deterministic: the same commands give the
 * same bytes (`npm run docs` writes it; a test fails when it is stale).
 */
import { groupByArea } from './areas.js';
import { globalOptions, type Command, type OptionSpec } from './command.js';
import { flagText } from './help.js';

/** The anchor of a command's section: "cache list" → "cache-list". */
export const anchorOf = (name: string) => name.replace(/\s+/g, '-');

/** Markdown-escapes prose, leaving `code spans` as they are. */
export function escapeProse(text: string): string {
  return text
    .split(/(`[^`]*`)/)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/[\\*<[\]]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])/g, (c) => `\\${c}`)))
    .join('')
    .replace(/^(#|>|[-+]\s|\d+\.\s)/, '\\$1');
}

/** Escapes a table cell: prose rules, no newlines, and `|` escaped inside code spans too. */
const cell = (text: string) => escapeProse(text.replace(/\s*\n\s*/g, ' ')).replace(/`[^`]*`/g, (code) => code.replace(/\|/g, '\\|'));

/**
 * A command's description as Markdown. Lines are kept as written for the
 * terminal: a line that ends a sentence ends a line; lines indented by two
 * spaces, and the text after "Example:", become code blocks.
 */
export function descriptionMarkdown(description: string): string {
  const out: string[] = [];
  let prose: string[] = [];
  let code: string[] = [];
  const flushProse = () => {
    if (prose.length === 0) return;
    out.push(prose.map((l, i) => (i < prose.length - 1 && /[.:;!?)]$/.test(l) ? `${escapeProse(l)}\\` : escapeProse(l))).join('\n'), '');
    prose = [];
  };
  const flushCode = () => {
    if (code.length === 0) return;
    out.push('```sh', ...code, '```', '');
    code = [];
  };
  for (const raw of description.split('\n')) {
    const line = raw.trimEnd();
    const example = /^Example:\s+(.*)$/.exec(line);
    if (line.startsWith('  ') || example) {
      flushProse();
      if (example) {
        flushCode();
        out.push('Example:', '');
      }
      code.push(example ? example[1]! : line.slice(2));
      if (example) flushCode();
    } else if (line === '') {
      flushProse();
      flushCode();
    } else {
      flushCode();
      prose.push(line);
    }
  }
  flushProse();
  flushCode();
  return out.join('\n').trimEnd();
}

function optionRows(options: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(options).map(([name, o]) => {
    const notes = [...(o.choices ? [`one of: ${o.choices.map((c) => `\`${c}\``).join(', ')}`] : []), ...(o.multiple ? ['repeatable'] : [])];
    const flag = flagText(name, o).replace(/\|/g, '\\|');
    return `| \`${flag}\` | ${cell(o.description)}${notes.length ? ` (${notes.join('; ')})` : ''} |`;
  });
  return ['| Option | Description |', '|---|---|', ...rows];
}

function commandSection(command: Command): string[] {
  const lines = [
    `<a id="${anchorOf(command.name)}"></a>`,
    '',
    `### ingot ${command.name}`,
    '',
    escapeProse(command.summary),
    '',
    '```sh',
    `ingot ${command.usage}`,
    '```',
    '',
  ];
  if (command.description) lines.push(descriptionMarkdown(command.description), '');
  if (Object.keys(command.options).length > 0) lines.push(...optionRows(command.options), '');
  else lines.push('Only the [global options](#global-options).', '');
  return lines;
}

/** docs/cli.md from the loaded commands (in registry order). */
export function cliReference(list: readonly Command[]): string {
  const byName = new Map(list.map((c) => [c.name, c]));
  const groups = groupByArea(list.map((c) => c.name));
  const lines = [
    '# CLI reference',
    '',
    '<!-- Generated from the command registry (src/cli/registry.ts) by `npm run docs`. Do not edit by hand: change the command, then run `npm run docs`. -->',
    '',
    'Every `ingot` command with its usage, options and what it does. In a terminal,',
    '`ingot help COMMAND` (or `ingot COMMAND --help`) prints the same, and',
    '`ingot completion bash|zsh|fish` completes commands, flags and file names.',
    '',
    'Exit codes, for every command: `0` success; `1` the work ran and something',
    'failed; `2` bad usage or invalid input — nothing was attempted. Error codes',
    'are listed in [errors.md](errors.md).',
    '',
    '## Commands',
    '',
    ...groups.map(({ area, names }) => `- **${area.title}**: ${names.map((n) => `[${n}](#${anchorOf(n)})`).join(' · ')}`),
    '',
    '## Global options',
    '',
    'Every command takes these:',
    '',
    ...optionRows(globalOptions as Record<string, OptionSpec>),
    '',
    '`ingot --version` (`-V`) prints the version; `ingot --help` lists the commands.',
    '',
  ];
  for (const { area, names } of groups) {
    lines.push(`## ${area.title}`, '');
    if (area.page) lines.push(`Guide: [${area.page}](${area.page}).`, '');
    for (const name of names) lines.push(...commandSection(byName.get(name)!));
  }
  return `${lines.join('\n').trimEnd()}\n`;
}
