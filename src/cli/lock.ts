/** The store run lock as the CLI uses it: --lock-timeout, --break-lock, --no-lock. */
import { hostname, userInfo } from 'node:os';
import type { StoreLock } from '../store/backend.js';
import type { ImageStore } from '../store/image-store.js';
import { bool, str, type CommandContext, type OptionSpec, type ParsedArgs } from './command.js';
import { parseDuration } from './resolve.js';

export const lockOptions = {
  'lock-timeout': {
    type: 'string',
    valueName: 'DURATION',
    description: 'Wait this long for another run holding the store lock (default: sync and prune 0s, fail at once; sign and channel 30s)',
  },
  'break-lock': { type: 'boolean', description: 'Take over an expired lock left by a dead run, or an unreadable (empty or garbage) lock file' },
  'no-lock': { type: 'boolean', description: 'Do not lock the store (only for stores without conditional writes)' },
} as const satisfies Record<string, OptionSpec>;

/**
 * Lock lifetime. A running sync refreshes its lock well before this, so only
 * the lock of a dead run expires (and can then be broken with --break-lock).
 */
export const LOCK_TTL_MS = 10 * 60_000;

/** How long a signer (sign, channel set/rollback) queues behind another without --lock-timeout. */
export const SIGNING_LOCK_TIMEOUT_MS = 30_000;

/**
 * Takes the store lock unless --no-lock; returns a release function.
 * `defaultTimeoutMs` applies without --lock-timeout (sync fails at once; the
 * short signing commands queue behind each other for 30 s).
 */
export async function takeLock(store: ImageStore, args: ParsedArgs, ctx: CommandContext, what: string, defaultTimeoutMs = 0): Promise<StoreLock> {
  if (bool(args, 'no-lock')) {
    ctx.log.warn('running without the store lock (--no-lock): another run may interleave');
    return { release: async () => undefined };
  }
  const timeout = str(args, 'lock-timeout');
  const owner = `ingot ${what} (${safeUser()}@${hostname()} pid ${process.pid})`;
  const lock = await store.backend.lock({
    owner,
    timeoutMs: timeout ? parseDuration(timeout, '--lock-timeout') : defaultTimeoutMs,
    ttlMs: LOCK_TTL_MS,
    breakExpired: bool(args, 'break-lock'),
    signal: ctx.signal,
  });
  ctx.log.debug('store locked', { owner });
  return lock;
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
