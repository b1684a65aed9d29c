/**
 * The CLI: argv → command → exit code. The only place that knows about
 * process streams and signals; bin.ts sets process.exitCode from `main()`.
 */
import { parseArgs } from 'node:util';
import { asIngotError, ExitCode, IngotError, UsageError } from '../errors.js';
import { createLogger, scrub, type Level } from '../log/logger.js';
import { suggest } from '../manifest/problems.js';
import { globalOptions, type Command, type CommandContext, type OptionSpec, type Output, type ParsedArgs } from './command.js';
import { logProgress, ttyProgress } from './progress-render.js';
import { commands } from './registry.js';

export interface MainIo {
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

const VERSION = '0.1.0';

export async function main(io: MainIo): Promise<number> {
  const secrets: string[] = [];
  const write = (stream: NodeJS.WriteStream) => (text: string) => stream.write(`${scrub(text, secrets)}\n`);
  const errLine = write(io.stderr);
  const outLine = write(io.stdout);

  const { name, rest } = findCommand(io.argv);
  if (!name) {
    const first = io.argv[0];
    if (first === '--version' || first === '-V') {
      outLine(VERSION);
      return ExitCode.ok;
    }
    if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
      outLine(globalHelp());
      return first === undefined ? ExitCode.usage : ExitCode.ok;
    }
    const guess = suggest(first, Object.keys(commands));
    errLine(`ingot: unknown command "${first}"${guess ? `; did you mean "${guess}"?` : ''}\nRun "ingot --help" for the list of commands.`);
    return ExitCode.usage;
  }

  // The AWS SDK warns on every Node 20 run that it will drop Node 20 in 2027; ingot says so in its README.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const command = (await commands[name]!.load()).command;
  let args: ParsedArgs;
  try {
    args = parseCommandArgs(command, rest);
  } catch (error) {
    errLine(`ingot ${name}: ${(error as Error).message}\nRun "ingot ${name} --help" for usage.`);
    return ExitCode.usage;
  }
  if (args.values.help) {
    outLine(commandHelp(command));
    return ExitCode.ok;
  }

  const json = args.values.json === true;
  const logFormat = (args.values['log-format'] as string | undefined) ?? 'text';
  if (logFormat !== 'text' && logFormat !== 'json') {
    errLine(`ingot ${name}: --log-format must be "text" or "json", got "${logFormat}"`);
    return ExitCode.usage;
  }
  const debug = args.values.debug === true || io.env.INGOT_DEBUG === '1';
  const level: Level = debug ? 'debug' : args.values.quiet ? 'warn' : 'info';
  const tty = io.stderr.isTTY && logFormat === 'text' && level !== 'warn' && !json;
  const live = tty ? ttyProgress(io.stderr) : undefined;
  const log = createLogger({
    format: logFormat,
    level,
    write: (line) => (live ? live.print(line) : io.stderr.write(`${line}\n`)),
    secrets: () => secrets,
  });
  const out: Output = {
    isTTY: Boolean(io.stdout.isTTY),
    line: (text = '') => {
      if (!json) outLine(text);
    },
    stderr: (text) => {
      if (text) io.stderr.write(scrub(text, secrets));
    },
    result: (data, text) => {
      if (json) outLine(JSON.stringify(data, null, 2));
      else {
        const lines = text();
        outLine(Array.isArray(lines) ? lines.join('\n') : lines);
      }
    },
  };

  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    log.warn(`received ${signal}: stopping (press Ctrl-C again to force)`);
    controller.abort(new IngotError('INGOT_ABORTED', `interrupted by ${signal}`));
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const ctx: CommandContext = {
    signal: controller.signal,
    log,
    out,
    progress: live ?? logProgress(log),
    env: io.env,
    cwd: io.cwd,
    json,
    addSecret: (secret) => {
      if (secret && !secrets.includes(secret)) secrets.push(secret);
    },
  };
  try {
    const code = await command.run(args, ctx);
    return code ?? ExitCode.ok;
  } catch (thrown) {
    const error = asIngotError(thrown);
    live?.clear();
    if (json) outLine(JSON.stringify({ error: error.toJSON() }, null, 2));
    errLine(renderError(error, debug));
    return error.exitCode;
  } finally {
    live?.clear();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** "error: reason (subject)" + hint; the stack only with --debug. */
export function renderError(error: IngotError, debug: boolean): string {
  const lines = [`error: ${error.message}`];
  if (error.image) lines[0] += ` (image "${error.image}")`;
  if (error.hint) lines.push(`  hint: ${error.hint}`);
  lines.push(`  code: ${error.code}`);
  if (debug) {
    lines.push(error.stack ?? '');
    let cause = error.cause as Error | undefined;
    while (cause) {
      lines.push(`caused by: ${cause.stack ?? String(cause)}`);
      cause = (cause as { cause?: Error }).cause;
    }
  }
  return lines.join('\n');
}

function findCommand(argv: string[]): { name?: string; rest: string[] } {
  const two = argv.slice(0, 2).join(' ');
  if (argv.length >= 2 && commands[two]) return { name: two, rest: argv.slice(2) };
  const one = argv[0];
  if (one !== undefined && commands[one]) return { name: one, rest: argv.slice(1) };
  // "ingot packer" alone: show the group's sub-commands.
  return { rest: argv };
}

function parseCommandArgs(command: Command, argv: string[]): ParsedArgs {
  const options = { ...globalOptions, ...command.options } as Record<string, OptionSpec>;
  try {
    const parsed = parseArgs({
      args: argv,
      options: Object.fromEntries(
        Object.entries(options).map(([k, o]) => [k, { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) }]),
      ),
      allowPositionals: true,
      strict: true,
    });
    if (!command.positionals && parsed.positionals.length > 0) {
      throw new UsageError(`unexpected argument "${parsed.positionals[0]}"`);
    }
    return { values: parsed.values as ParsedArgs['values'], positionals: parsed.positionals };
  } catch (error) {
    const e = error as Error & { code?: string };
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const flag = /'(-[^']+)'/.exec(e.message)?.[1] ?? '';
      const guess = suggest(flag.replace(/^-+/, ''), Object.keys(options));
      throw new UsageError(`unknown option ${flag}${guess ? `; did you mean --${guess}?` : ''}`);
    }
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new UsageError(e.message.split('\n')[0] ?? e.message);
    throw error;
  }
}

function globalHelp(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  return [
    'ingot — machine images from a declaration in Git to a booted, verified VM',
    '',
    'Usage: ingot <command> [options]',
    '',
    'Commands:',
    ...Object.entries(commands).map(([n, c]) => `  ${n.padEnd(width)}  ${c.summary}`),
    '',
    'Every command takes --json, --log-format text|json, --debug, --quiet and --help.',
    'Exit codes: 0 success; 1 the work ran and something failed; 2 bad usage or invalid input.',
  ].join('\n');
}

function commandHelp(command: Command): string {
  const options = { ...command.options, ...globalOptions } as Record<string, OptionSpec>;
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.valueName ?? 'VALUE'}` : ''}`;
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
