/**
 * The CLI: argv → command → exit code. The only place that knows about
 * process streams and signals; bin.ts sets process.exitCode from `main()`.
 */
import { parseArgs } from 'node:util';
import { asIngotError, ExitCode, IngotError, UsageError } from '../errors.js';
import { secretsInEnvironment } from '../credentials/env.js';
import { killTrackedChildren } from '../exec/children.js';
import { createLogger, scrub, type Level } from '../log/logger.js';
import { suggest } from '../manifest/problems.js';
import { globalOptions, type Command, type CommandContext, type OptionSpec, type Output, type ParsedArgs } from './command.js';
import { commandHelp, commandWords, findCommand, globalHelp, groupHelp, subcommandsOf } from './help.js';
import { logProgress, ttyProgress } from './progress-render.js';
import { commands } from './registry.js';
import { packageVersion } from './version.js';

export interface MainIo {
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  /**
   * Ends the process at once, as if killed by `signal` (the real binary
   * re-raises it: process.exit would wait for a thread blocked in, say, the
   * open() of a FIFO). Given, an interrupted run that has not ended
   * `ABORT_GRACE_MS` after the signal is ended this way; in-process callers
   * (tests) leave it out.
   */
  die?: (signal: NodeJS.Signals) => void;
}

/** How long an interrupted run may take to clean up (abort uploads, remove temp files) before it is ended by force. */
export const ABORT_GRACE_MS = 10_000;

let exitHookInstalled = false;
/** Whatever way the process exits, no decompressor or tool it started lives on. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => killTrackedChildren());
}

/**
 * A crash outside the command's promise chain (a throw in a stream callback,
 * a rejected promise nobody awaited) would print Node's default report with
 * whatever the error text held — a URL with a token, a decrypted value. Only
 * in the real process (io.die set): the report goes through the same scrub
 * as every other line, then the process ends with exit 1.
 */
function installCrashHandler(io: MainIo, secrets: readonly string[]): void {
  const crash = (thrown: unknown) => {
    killTrackedChildren();
    const text = thrown instanceof Error ? (thrown.stack ?? thrown.message) : String(thrown);
    io.stderr.write(`${scrub(`ingot: internal error (please report it): ${text}`, secrets)}\n`);
    process.exit(ExitCode.failed);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
}

export async function main(io: MainIo): Promise<number> {
  // Every credential the environment holds is known now: scrubbed from every line from the first one.
  const secrets: string[] = [...new Set(secretsInEnvironment(io.env))];
  if (io.die) installCrashHandler(io, secrets);
  const write = (stream: NodeJS.WriteStream) => (text: string) => stream.write(`${scrub(text, secrets)}\n`);
  const errLine = write(io.stderr);
  const outLine = write(io.stdout);

  const { name, rest } = findCommand(io.argv);
  if (!name) {
    const first = io.argv[0];
    if (first === '--version' || first === '-V') {
      outLine(packageVersion());
      return ExitCode.ok;
    }
    if (first === undefined || first === '--help' || first === '-h') {
      outLine(globalHelp());
      return first === undefined ? ExitCode.usage : ExitCode.ok;
    }
    // "ingot cache" alone, or with --help: the group's sub-commands.
    if (subcommandsOf(first).length > 0 && (io.argv.length === 1 || io.argv[1] === '--help' || io.argv[1] === '-h')) {
      outLine(groupHelp(first));
      return io.argv.length === 1 ? ExitCode.usage : ExitCode.ok;
    }
    const wanted = subcommandsOf(first).length > 0 && io.argv[1] !== undefined ? `${first} ${io.argv[1]}` : first;
    const guess = suggest(wanted, commandWords());
    errLine(`ingot: unknown command "${wanted}"${guess ? `; did you mean "${guess}"?` : ''}\nRun "ingot --help" for the list of commands.`);
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
  /** A streamed JSON result not yet closed: an error closes it (see Output.stream). */
  let openJson: ((error: IngotError) => void) | undefined;
  const outRaw = (text: string) => io.stdout.write(scrub(text, secrets));
  const out: Output = {
    isTTY: Boolean(io.stdout.isTTY),
    stream: (head, key) => {
      let count = 0;
      const fields = (data: Record<string, unknown>) =>
        Object.entries(data)
          .map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v, null, 2).replace(/\n/g, '\n  ')},\n`)
          .join('');
      const close = (tail: Record<string, unknown>) => {
        openJson = undefined;
        const rest = fields(tail).replace(/,\n$/, '\n');
        outRaw(`${count > 0 ? '\n  ' : ''}]${rest ? `,\n${rest}` : '\n'}}\n`);
      };
      if (json) {
        outRaw(`{\n${fields(head)}  ${JSON.stringify(key)}: [`);
        openJson = (error) => close({ error: error.toJSON() });
      }
      return {
        item: (data, text) => {
          if (json) outRaw(`${count > 0 ? ',' : ''}\n    ${JSON.stringify(data)}`);
          else outLine(text());
          count++;
        },
        end: (tail = {}, text) => {
          if (json) close(tail);
          else if (text) for (const line of text()) outLine(line);
        },
      };
    },
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

  installExitHook();
  const controller = new AbortController();
  /** Kills our children, then ends the process as the signal would have (default disposition restored first). */
  const dieOf = (signal: NodeJS.Signals) => {
    killTrackedChildren();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    (io.die ?? ((s: NodeJS.Signals) => process.kill(process.pid, s)))(signal);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      // Second signal: stop now, as a plain process would.
      dieOf(signal);
      return;
    }
    log.warn(`received ${signal}: stopping (press Ctrl-C again to force)`);
    controller.abort(new IngotError('INGOT_ABORTED', `interrupted by ${signal}`));
    if (io.die) {
      // Cleanup that hangs (a socket, a blocked open()) must not keep an interrupted run alive.
      // Unref'd: a run that ends by itself exits without waiting for this.
      setTimeout(() => {
        errLine(`ingot: still stopping ${ABORT_GRACE_MS / 1000}s after ${signal}; exiting now`);
        dieOf(signal);
      }, ABORT_GRACE_MS).unref();
    }
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
    if (openJson) openJson(error);
    else if (json) outLine(JSON.stringify({ error: error.toJSON() }, null, 2));
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
