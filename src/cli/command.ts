/**
 * The shape of a command module. Each command is one file under
 * src/cli/commands/, loaded lazily through the registry; it parses nothing
 * itself — the CLI parses argv with the command's option table and hands over
 * typed values plus a context with the logger, output and abort signal.
 */
import type { Logger } from '../log/logger.js';
import type { ProgressReporter } from '../log/progress.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Shown in --help, e.g. "Store URL (default: …)". */
  description: string;
  /** Placeholder in --help, e.g. "URL". FILE and DIR complete paths; "a|b|c" completes those words. */
  valueName?: string;
  /** The values a string option accepts, when they are a fixed list: shell completion offers them. */
  choices?: readonly string[];
}

export interface CommandContext {
  signal: AbortSignal;
  log: Logger;
  out: Output;
  progress: ProgressReporter;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** --json was given. */
  json: boolean;
  /** Registers a secret known at run time: scrubbed from all output from now on. */
  addSecret(secret: string): void;
}

export interface Output {
  /** A line of human output on stdout (suppressed with --json). */
  line(text?: string): void;
  /** Text passed through to stderr as it is (a guest command's stderr); not suppressed by --json. */
  stderr(text: string): void;
  /** The command's result: JSON with --json, else `text()` lines. */
  result(data: unknown, text: () => string | string[]): void;
  /** Whether stdout is a terminal (for tables and colour). */
  readonly isTTY: boolean;
  /**
   * A result too large to hold in memory, written item by item: with --json
   * one document `{ ...head, [key]: [item, …], ...tail }`, else each item's
   * text line. If the command fails before `end()`, the CLI closes the JSON
   * document with its "error" instead of printing a second one.
   */
  stream(head: Record<string, unknown>, key: string): ResultStream;
}

export interface ResultStream {
  item(data: unknown, text: () => string): void;
  end(tail?: Record<string, unknown>, text?: () => string[]): void;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export interface Command {
  /** "sync", or "packer init" for a sub-command. */
  name: string;
  summary: string;
  /** Usage line(s) after "ingot ". */
  usage: string;
  /** Longer help text, examples. */
  description?: string;
  options: Record<string, OptionSpec>;
  /** Whether positionals are accepted (default false). */
  positionals?: boolean;
  /** Returns the exit code (0 if undefined). Throw IngotError for failures. */
  run(args: ParsedArgs, ctx: CommandContext): Promise<number | void>;
}

/** Options shared by every command. */
export const globalOptions = {
  json: { type: 'boolean', description: 'Machine-readable output on stdout' },
  'log-format': { type: 'string', valueName: 'text|json', description: 'Log line format on stderr (default: text)' },
  debug: { type: 'boolean', description: 'Debug logging and stack traces' },
  quiet: { type: 'boolean', short: 'q', description: 'Only warnings and errors on stderr' },
  help: { type: 'boolean', short: 'h', description: 'Show help' },
} as const satisfies Record<string, OptionSpec>;

/** Helpers for reading parsed values with the right type. */
export function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}
export function bool(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}
export function list(args: ParsedArgs, name: string): string[] {
  const v = args.values[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}
