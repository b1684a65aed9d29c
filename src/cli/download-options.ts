/**
 * The download flags (timeouts, minimum speed, retries) shared by commands
 * that fetch over HTTPS, and their parsing. Every wait must end: a zero,
 * negative or absurdly long value is refused with exit 2 instead of meaning
 * "no timeout".
 */
import { HTTP_DEFAULTS, type HttpOptions } from '../acquire/http-client.js';
import { UsageError } from '../errors.js';
import { formatBytes, parseSize } from '../transform/decompress.js';
import { str, type OptionSpec, type ParsedArgs } from './command.js';
import { connectionsFrom, connectionsOption, intOption, parseDuration } from './resolve.js';

/** The longest timeout accepted on the command line. */
const MAX_TIMEOUT_MS = 24 * 3_600_000;

const s = (ms: number) => `${ms / 1000}s`;

export const downloadOptions = {
  ...connectionsOption,
  retries: { type: 'string', valueName: 'N', description: `Download retries after a failure without progress (default: ${HTTP_DEFAULTS.retries})` },
  'connect-timeout': { type: 'string', valueName: 'DURATION', description: `TCP + TLS connect timeout (default: ${s(HTTP_DEFAULTS.connectTimeoutMs)})` },
  'headers-timeout': {
    type: 'string',
    valueName: 'DURATION',
    description: `Longest wait for response headers (default: ${s(HTTP_DEFAULTS.headersTimeoutMs)})`,
  },
  'idle-timeout': { type: 'string', valueName: 'DURATION', description: `Longest silence in a response body (default: ${s(HTTP_DEFAULTS.idleTimeoutMs)})` },
  'min-speed': {
    type: 'string',
    valueName: 'RATE',
    description: `Slowest acceptable download, bytes per second, e.g. 10KiB (default: ${formatBytes(HTTP_DEFAULTS.minSpeed)}/s)`,
  },
  'min-speed-time': {
    type: 'string',
    valueName: 'DURATION',
    description: `Window over which --min-speed is averaged (default: ${s(HTTP_DEFAULTS.minSpeedTimeMs)})`,
  },
} as const satisfies Record<string, OptionSpec>;

/** HttpOptions from the download flags; only the flags given (the client fills in defaults). */
export function httpOptionsFrom(args: ParsedArgs): HttpOptions {
  const out: HttpOptions = { retries: intOption(args, 'retries', HTTP_DEFAULTS.retries, 0) };
  const connections = connectionsFrom(args);
  if (connections !== undefined) out.connections = connections;
  const timeouts = [
    ['connect-timeout', 'connectTimeoutMs'],
    ['headers-timeout', 'headersTimeoutMs'],
    ['idle-timeout', 'idleTimeoutMs'],
    ['min-speed-time', 'minSpeedTimeMs'],
  ] as const;
  for (const [flag, key] of timeouts) {
    const raw = str(args, flag);
    if (raw !== undefined) out[key] = positiveDuration(raw, `--${flag}`);
  }
  const speed = str(args, 'min-speed');
  if (speed !== undefined) {
    const bytes = parseSize(speed.replace(/\/s$/i, ''));
    if (bytes === undefined || !Number.isSafeInteger(bytes)) {
      throw new UsageError(`--min-speed must be a positive rate in bytes per second such as 1KiB or 100KB/s, got "${speed}"`, {
        hint: 'a rate of 0 would let a server trickle forever; to tolerate slow servers, give a small rate such as 10B',
      });
    }
    out.minSpeed = bytes;
  }
  return out;
}

/** A duration flag that must be > 0 and at most a day. */
export function positiveDuration(raw: string, flag: string): number {
  const ms = parseDuration(raw, flag);
  if (!(ms > 0) || ms > MAX_TIMEOUT_MS) {
    throw new UsageError(`${flag} must be a duration above 0 and at most 24h, such as 30s or 5m, got "${raw}"`, {
      hint: 'a timeout of 0 does not mean "no timeout": every wait has to end, so give the longest you will accept',
    });
  }
  return ms;
}
