/**
 * Sane bounds for sizes and durations a user writes. A number the parser
 * accepts is not yet a value the program can use: "400 nines" bytes is
 * Infinity, "99999999d" from now is past the last date a JavaScript Date can
 * hold. Each value is checked against its bounds before any work starts, so
 * nothing is published and then fails at signing time.
 */

/** The largest size ingot accepts anywhere (1 PiB): far above any image, far below Infinity. */
export const MAX_SIZE_BYTES = 2 ** 50;

/** Why a parsed size is unusable, or undefined. */
export function sizeBoundProblem(bytes: number): string | undefined {
  if (bytes > MAX_SIZE_BYTES) return 'is larger than 1PiB, the most ingot accepts';
  if (!Number.isSafeInteger(bytes) || bytes <= 0) return 'must be a positive whole number of bytes';
  return undefined;
}

/** Shortest and longest validity of a signed index. */
export const INDEX_EXPIRY_MIN_MS = 1;
/**
 * One year: an index valid for longer gives freeze protection no teeth (a
 * replayed copy stays acceptable that long); re-sign from a schedule instead.
 */
export const INDEX_EXPIRY_MAX_MS = 366 * 86_400_000;

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;
const FACTOR = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "30", "30s", "5m", "2h", "7d", "0.5s" → milliseconds (unit default s); undefined when malformed. */
export function parseDurationMs(raw: string): number | undefined {
  const match = DURATION.exec(raw.trim());
  if (!match) return undefined;
  const ms = Math.round(Number(match[1]) * FACTOR[(match[2] ?? 's') as keyof typeof FACTOR]);
  return Number.isFinite(ms) ? ms : undefined;
}

/** An index validity as written → ms, or the reason it is refused. */
export function parseIndexExpiry(raw: string): { ms: number } | { problem: string } {
  const ms = parseDurationMs(raw);
  if (ms === undefined) return { problem: `expected a duration like 12h or 7d, got "${raw}"` };
  if (ms < INDEX_EXPIRY_MIN_MS) return { problem: `must be longer than 0, got "${raw}"` };
  if (ms > INDEX_EXPIRY_MAX_MS) return { problem: `must be at most 366d (one year), got "${raw}"` };
  return { ms };
}
