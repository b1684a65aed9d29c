/**
 * Structured logging. Core modules log through a `Logger` they are given;
 * the CLI decides where lines go and in which format (text or JSON lines).
 * Fields named like secrets are redacted before any line is written.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LogFields {
  image?: string;
  step?: string;
  bytes?: number;
  durationMs?: number;
  [key: string]: unknown;
}

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  format: 'text' | 'json';
  level: Level;
  write: (line: string) => void;
  /** Strings that must never appear in output (secrets known at run time). */
  secrets?: () => readonly string[];
  now?: () => Date;
}

const SECRET_KEY = /secret|password|passphrase|token|credential|access.?key|private/i;

/** Creates a logger writing formatted lines through `options.write`. */
export function createLogger(options: LoggerOptions, bound: LogFields = {}): Logger {
  const emit = (level: Level, message: string, fields: LogFields = {}) => {
    if (LEVELS[level] < LEVELS[options.level]) return;
    const all = redactFields({ ...bound, ...fields });
    const time = (options.now?.() ?? new Date()).toISOString();
    let line: string;
    if (options.format === 'json') {
      line = JSON.stringify({ level, time, msg: message, ...all });
    } else {
      const subject = all.image ? `[${String(all.image)}] ` : '';
      const rest = Object.entries(all)
        .filter(([k, v]) => k !== 'image' && v !== undefined)
        .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
        .join(' ');
      line = `${time} ${level.toUpperCase().padEnd(5)} ${subject}${message}${rest ? ` ${rest}` : ''}`;
    }
    options.write(scrub(line, options.secrets?.() ?? []));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger(options, { ...bound, ...fields }),
  };
}

/** A logger that drops everything (library default, tests). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
};

/**
 * Replaces every occurrence of each secret with "***": as written, and in
 * the forms it takes on its way into output — JSON-escaped (a secret with a
 * quote or backslash inside a --json line or a JSON log field) and
 * percent-encoded (in a URL or a signed query string an error body echoes).
 */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    for (const form of secretForms(secret)) out = out.split(form).join('***');
  }
  return out;
}

function secretForms(secret: string): string[] {
  const forms = [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)];
  forms.push(JSON.stringify(forms[2]!).slice(1, -1));
  // Longest first, so a form that contains another is replaced whole.
  return [...new Set(forms)].sort((a, b) => b.length - a.length);
}

function redactFields(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) out[key] = SECRET_KEY.test(key) && value !== undefined ? '***' : value;
  return out;
}
