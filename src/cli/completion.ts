/**
 * Shell completion scripts for bash, zsh and fish, generated from the command
 * registry: commands, sub-commands, each command's flags, and values — files
 * for FILE options, directories for DIR options, the listed words for
 * `a|b|c` value names. The scripts are static (no call back into ingot while
 * completing), so completing is instant. Pure: data in, text out.
 */
import { globalOptions, type Command, type OptionSpec } from './command.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** What completes a value: local files, local directories, fixed words, or nothing. */
export type ValueKind = { kind: 'file' } | { kind: 'dir' } | { kind: 'words'; words: string[] } | { kind: 'none' };

export interface CompletionFlag {
  long: string;
  short?: string;
  description: string;
  /** undefined: a boolean flag, takes no value. */
  value?: ValueKind;
}

export interface CompletionCommand {
  /** "sync", "cache list". */
  name: string;
  summary: string;
  flags: CompletionFlag[];
  /** undefined: the command takes no positional arguments. */
  positional?: ValueKind;
}

export interface CompletionModel {
  /** First words: commands and groups, with a summary each. */
  top: { word: string; summary: string }[];
  /** Group word → its sub-commands' second words. */
  groups: Map<string, { word: string; summary: string }[]>;
  commands: CompletionCommand[];
}

const WORD = /^[a-z0-9][a-z0-9._-]*$/;
const NAME = /^[a-z0-9][a-z0-9-]*( [a-z0-9][a-z0-9-]*)?$/;

/** The completion of an option's value, from its choices or value name. */
export function valueKind(o: Pick<OptionSpec, 'valueName' | 'choices'>): ValueKind {
  if (o.choices && o.choices.length > 0 && o.choices.every((w) => WORD.test(w))) return { kind: 'words', words: [...o.choices] };
  const v = o.valueName ?? '';
  if (v === 'FILE') return { kind: 'file' };
  if (v === 'DIR') return { kind: 'dir' };
  if (v.includes('|')) {
    const words = v.split('|');
    if (words.every((w) => WORD.test(w))) return { kind: 'words', words };
  }
  return { kind: 'none' };
}

/**
 * The completion of a command's positional arguments, from the first
 * placeholder in its usage line that is not an option's value: FILE → files,
 * DIR → directories, lower-case `a|b|c` → those words, anything else (NAME,
 * PATH in a store, …) → nothing.
 */
export function positionalKind(command: Pick<Command, 'name' | 'usage' | 'options' | 'positionals'>): ValueKind | undefined {
  if (!command.positionals) return undefined;
  const options = { ...globalOptions, ...command.options } as Record<string, OptionSpec>;
  const tokens = command.usage.trim().split(/\s+/).slice(command.name.split(' ').length);
  let skipValue = false;
  for (const raw of tokens) {
    const token = raw.replace(/^\[+|[\]…]+$/g, '').replace(/…$/, '');
    if (token === '' || token === '|') continue;
    if (token.startsWith('-')) {
      const name = token.replace(/^-+/, '').split('=')[0] ?? '';
      const option = options[name] ?? Object.values(options).find((o) => o.short === name);
      skipValue = option?.type === 'string' && !token.includes('=');
      continue;
    }
    if (skipValue) {
      skipValue = false;
      continue;
    }
    if (token === 'FILE') return { kind: 'file' };
    if (token === 'DIR') return { kind: 'dir' };
    if (token.includes('|') && token.split('|').every((w) => WORD.test(w))) return { kind: 'words', words: token.split('|') };
    return { kind: 'none' };
  }
  return { kind: 'none' };
}

/** The model every script is written from; names are checked so nothing in them can break a script. */
export function completionModel(list: readonly Command[]): CompletionModel {
  const commands = list.map((c): CompletionCommand => {
    if (!NAME.test(c.name)) throw new Error(`command name "${c.name}" cannot be completed safely`);
    // The command's options first; a command's own definition wins over a global one (as when parsing).
    const options = { ...c.options, ...globalOptions, ...c.options } as Record<string, OptionSpec>;
    const flags = Object.entries(options).map(([long, o]): CompletionFlag => {
      if (!WORD.test(long) || (o.short !== undefined && !/^[A-Za-z0-9]$/.test(o.short)))
        throw new Error(`option "${long}" of "${c.name}" cannot be completed safely`);
      return { long, ...(o.short ? { short: o.short } : {}), description: o.description, ...(o.type === 'string' ? { value: valueKind(o) } : {}) };
    });
    const positional = positionalKind(c);
    return { name: c.name, summary: c.summary, flags, ...(positional ? { positional } : {}) };
  });
  const top: CompletionModel['top'] = [];
  const groups: CompletionModel['groups'] = new Map();
  for (const c of commands) {
    const [first, second] = c.name.split(' ') as [string, string | undefined];
    if (second === undefined) {
      top.push({ word: first, summary: c.summary });
    } else {
      if (!groups.has(first)) {
        groups.set(first, []);
        top.push({ word: first, summary: '' });
      }
      groups.get(first)!.push({ word: second, summary: c.summary });
    }
  }
  // A group's own line lists its sub-commands: "packer: init, validate, build, doctor".
  for (const t of top)
    if (t.summary === '')
      t.summary = `${t.word} ${groups
        .get(t.word)!
        .map((s) => s.word)
        .join('|')}`;
  return { top, groups, commands };
}

export function completionScript(shell: Shell, model: CompletionModel): string {
  switch (shell) {
    case 'bash':
      return bashScript(model);
    case 'zsh':
      return zshScript(model);
    case 'fish':
      return fishScript(model);
  }
}

const header = (shell: Shell, load: string[]) => [
  `# ${shell} completion for ingot, generated by \`ingot completion ${shell}\` from its command registry.`,
  ...load.map((l) => `# ${l}`),
];

/**
 * Case arms `"cmd --flag"|"cmd -f")` grouped by the kind of value, for bash
 * and zsh; the global options' arms (`*" --log-format"`) come last.
 */
function valueArms(model: CompletionModel): [patterns: string[], kind: string][] {
  const byKind = new Map<string, string[]>();
  const add = (kind: string, patterns: string[]) => byKind.set(kind, [...(byKind.get(kind) ?? []), ...patterns]);
  for (const c of model.commands) {
    for (const f of c.flags) {
      if (f.value && !isGlobal(f)) add(kindWord(f.value), [`"${c.name} --${f.long}"`, ...(f.short ? [`"${c.name} -${f.short}"`] : [])]);
    }
  }
  const arms = [...byKind].map(([kind, patterns]): [string[], string] => [patterns, kind]);
  for (const [long, o] of Object.entries(globalOptions as Record<string, OptionSpec>)) {
    if (o.type === 'string') arms.push([[`*" --${long}"`, ...(o.short ? [`*" -${o.short}"`] : [])], kindWord(valueKind(o))]);
  }
  return arms;
}

/** A command's flag that is one of the global options, unchanged. */
function isGlobal(f: CompletionFlag): boolean {
  const g = (globalOptions as Record<string, OptionSpec>)[f.long];
  return g !== undefined && g.description === f.description;
}

function kindWord(v: ValueKind): string {
  return v.kind === 'words' ? `words ${v.words.join(' ')}` : v.kind;
}

function bashScript(model: CompletionModel): string {
  const groups = [...model.groups.keys()];
  const lines = [
    ...header('bash', [
      'Load it in this shell:  source <(ingot completion bash)',
      'or for every shell:     ingot completion bash > ~/.local/share/bash-completion/completions/ingot',
    ]),
    '',
    '# REPLY: what completes the value of option $2 of command $1 (file, dir, none, "words …"), empty if it takes none',
    '_ingot_value() {',
    '  case "$1 $2" in',
    ...valueArms(model).map(([patterns, kind]) => `    ${patterns.join('|')}) REPLY='${kind}' ;;`),
    "    *) REPLY='' ;;",
    '  esac',
    '}',
    '',
    '# REPLY: the flags of command $1',
    '_ingot_flags() {',
    '  case "$1" in',
    ...model.commands.map((c) => `    "${c.name}") REPLY='${c.flags.flatMap((f) => [`--${f.long}`, ...(f.short ? [`-${f.short}`] : [])]).join(' ')}' ;;`),
    "    *) REPLY='' ;;",
    '  esac',
    '}',
    '',
    '# REPLY: what completes the positional arguments of command $1',
    '_ingot_args() {',
    '  case "$1" in',
    ...model.commands.filter((c) => c.positional && c.positional.kind !== 'none').map((c) => `    "${c.name}") REPLY='${kindWord(c.positional!)}' ;;`),
    "    *) REPLY='none' ;;",
    '  esac',
    '}',
    '',
    '_ingot_reply() {',
    '  case "$1" in',
    '    file) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;',
    '    dir) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;',
    '    words\\ *) mapfile -t COMPREPLY < <(compgen -W "${1#words }" -- "$cur") ;;',
    '    *) COMPREPLY=() ;;',
    '  esac',
    '}',
    '',
    '_ingot() {',
    '  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd REPLY',
    '  COMPREPLY=()',
    '  if (( COMP_CWORD == 1 )); then',
    `    _ingot_reply 'words ${model.top.map((t) => t.word).join(' ')} --help --version'`,
    '    return',
    '  fi',
    '  case "${COMP_WORDS[1]}" in',
    ...groups.map(
      (g) =>
        `    ${g}) if (( COMP_CWORD == 2 )); then _ingot_reply 'words ${model.groups
          .get(g)!
          .map((s) => s.word)
          .join(' ')} --help'; return; fi; cmd="${g} \${COMP_WORDS[2]}" ;;`,
    ),
    '    *) cmd=${COMP_WORDS[1]} ;;',
    '  esac',
    '  # --opt=value: bash splits it at "=" (COMP_WORDBREAKS)',
    '  local opt=$prev',
    '  if [[ $cur == = ]]; then cur=; elif [[ $prev == = ]]; then opt=${COMP_WORDS[COMP_CWORD-2]}; fi',
    '  _ingot_value "$cmd" "$opt"',
    '  if [[ -n $REPLY ]]; then _ingot_reply "$REPLY"; return; fi',
    '  if [[ $cur == -* ]]; then _ingot_flags "$cmd"; _ingot_reply "words $REPLY"; return; fi',
    '  _ingot_args "$cmd"',
    '  _ingot_reply "$REPLY"',
    '}',
    '',
    'complete -F _ingot ingot',
    '',
  ];
  return lines.join('\n');
}

/** A single-quoted zsh string. */
const zq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
/** One "word:description" entry for _describe (colons in the word escaped; newlines flattened). */
const describeEntry = (word: string, description: string) => zq(`${word.replace(/:/g, '\\:')}:${description.replace(/\s+/g, ' ')}`);

function zshScript(model: CompletionModel): string {
  const groups = [...model.groups.keys()];
  const lines = [
    '#compdef ingot',
    ...header('zsh', [
      'Load it in this shell (after compinit):  source <(ingot completion zsh)',
      'or save it as _ingot in a directory on $fpath before compinit runs.',
    ]),
    '',
    '_ingot_value() {',
    '  case "$1 $2" in',
    ...valueArms(model).map(([patterns, kind]) => `    ${patterns.join('|')}) REPLY='${kind}' ;;`),
    "    *) REPLY='' ;;",
    '  esac',
    '}',
    '',
    '_ingot_flags() {',
    '  case "$1" in',
    ...model.commands.map(
      (c) =>
        `    "${c.name}") reply=(${c.flags.flatMap((f) => [describeEntry(`--${f.long}`, f.description), ...(f.short ? [describeEntry(`-${f.short}`, f.description)] : [])]).join(' ')}) ;;`,
    ),
    '    *) reply=() ;;',
    '  esac',
    '}',
    '',
    '_ingot_args() {',
    '  case "$1" in',
    ...model.commands.filter((c) => c.positional && c.positional.kind !== 'none').map((c) => `    "${c.name}") REPLY='${kindWord(c.positional!)}' ;;`),
    "    *) REPLY='none' ;;",
    '  esac',
    '}',
    '',
    '_ingot_do() {',
    '  case "$1" in',
    '    file) _files ;;',
    '    dir) _files -/ ;;',
    '    words\\ *) local -a w; w=(${=1#words }); compadd -a w ;;',
    '    *) return 1 ;;',
    '  esac',
    '}',
    '',
    '_ingot() {',
    '  local cur=${words[CURRENT]} prev=${words[CURRENT-1]} cmd REPLY',
    '  local -a reply',
    '  if (( CURRENT == 2 )); then',
    `    reply=(${model.top.map((t) => describeEntry(t.word, t.summary)).join(' ')})`,
    "    _describe -t commands 'ingot command' reply",
    '    return',
    '  fi',
    '  case "${words[2]}" in',
    ...groups.map(
      (g) =>
        `    ${g}) if (( CURRENT == 3 )); then reply=(${model.groups
          .get(g)!
          .map((s) => describeEntry(s.word, s.summary))
          .join(' ')}); _describe -t commands ${zq(`ingot ${g} command`)} reply; return; fi; cmd="${g} \${words[3]}" ;;`,
    ),
    '    *) cmd=${words[2]} ;;',
    '  esac',
    '  if [[ $cur == --*=* ]]; then',
    '    _ingot_value "$cmd" "${cur%%=*}"',
    '    [[ -n $REPLY ]] || return 1',
    "    compset -P '*='",
    '    _ingot_do "$REPLY"',
    '    return',
    '  fi',
    '  _ingot_value "$cmd" "$prev"',
    '  if [[ -n $REPLY ]]; then _ingot_do "$REPLY"; return; fi',
    '  if [[ $cur == -* ]]; then _ingot_flags "$cmd"; _describe -t options \'option\' reply; return; fi',
    '  _ingot_args "$cmd"',
    '  _ingot_do "$REPLY"',
    '}',
    '',
    'if (( $+functions[compdef] )); then compdef _ingot ingot; fi',
    '# Autoloaded from $fpath: the first call defines the functions above, then completes.',
    'if [[ ${funcstack[1]-} == _ingot ]]; then _ingot "$@"; fi',
    '',
  ];
  return lines.join('\n');
}

/** A single-quoted fish string. */
const fq = (s: string) => `'${s.replace(/\s+/g, ' ').replace(/[\\']/g, (c) => `\\${c}`)}'`;

function fishValue(v: ValueKind): string {
  switch (v.kind) {
    case 'file':
      return '-r -F';
    case 'dir':
      return "-x -a '(__fish_complete_directories (commandline -ct))'";
    case 'words':
      return `-x -a ${fq(v.words.join(' '))}`;
    case 'none':
      return '-x';
  }
}

function fishScript(model: CompletionModel): string {
  const lines = [
    ...header('fish', [
      'Load it in this shell:  ingot completion fish | source',
      'or for every shell:     ingot completion fish > ~/.config/fish/completions/ingot.fish',
    ]),
    '',
    'complete -c ingot -e',
    'complete -c ingot -f',
    '',
    '# true when the words before the cursor start with: ingot ARGV…',
    'function __ingot_using',
    '    set -l t (commandline -opc)',
    '    test (count $t) -gt (count $argv); or return 1',
    '    for i in (seq (count $argv))',
    '        set -l j (math $i + 1)',
    '        test "$t[$j]" = "$argv[$i]"; or return 1',
    '    end',
    'end',
    '',
    '# true when the words before the cursor are exactly: ingot ARGV…',
    'function __ingot_at',
    '    test (count (commandline -opc)) -eq (math (count $argv) + 1); and __ingot_using $argv',
    'end',
    '',
    `complete -c ingot -n '__ingot_at' -l help -s h -d 'Show help'`,
    `complete -c ingot -n '__ingot_at' -l version -s V -d 'Print the version'`,
    ...model.top.map((t) => `complete -c ingot -n '__ingot_at' -a ${t.word} -d ${fq(t.summary)}`),
  ];
  for (const [group, subs] of model.groups) {
    lines.push('', ...subs.map((s) => `complete -c ingot -n '__ingot_at ${group}' -a ${s.word} -d ${fq(s.summary)}`));
  }
  for (const c of model.commands) {
    const cond = `-n '__ingot_using ${c.name}'`;
    lines.push('');
    for (const f of c.flags) {
      lines.push(`complete -c ingot ${cond} -l ${f.long}${f.short ? ` -s ${f.short}` : ''}${f.value ? ` ${fishValue(f.value)}` : ''} -d ${fq(f.description)}`);
    }
    const p = c.positional;
    if (p && p.kind !== 'none') {
      // Only after the command's own words: "ingot packer validate <TAB>", not "ingot packer <TAB>".
      lines.push(
        `complete -c ingot ${cond} ${p.kind === 'file' ? '-F' : p.kind === 'dir' ? "-a '(__fish_complete_directories (commandline -ct))'" : `-a ${fq(p.words.join(' '))}`}`,
      );
    }
  }
  lines.push('');
  return lines.join('\n');
}
