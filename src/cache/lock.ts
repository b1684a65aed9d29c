/**
 * One writer per cache. The lock is a file created with O_EXCL holding the
 * owner's pid and host; a lock left by a dead process on this host (a pull
 * killed with SIGKILL) is taken over at once, a live one is waited for.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, IngotError } from '../errors.js';
import { cachePaths, ensureStateDirs, requireRegularOrAbsent } from './layout.js';
import { lockStillOurs, processAlive, removeStaleLock } from '../util/fs-atomic.js';

/** A held cache lock. */
export interface CacheLock {
  release(): Promise<void>;
}

interface Holder {
  pid?: number;
  host?: string;
  owner?: string;
  startedAt?: string;
  token?: string;
}

/** Takes the cache lock, waiting up to `timeoutMs` for a live holder. */
export async function lockCache(cacheDir: string, options: { owner: string; timeoutMs: number; signal?: AbortSignal }): Promise<CacheLock> {
  const { root, lock } = cachePaths(cacheDir);
  await fs.mkdir(root, { recursive: true });
  // .ingot must be a real directory: through a planted symlink the lock, state and tmp/ would live elsewhere.
  await ensureStateDirs(root);
  const deadline = Date.now() + options.timeoutMs;
  const token = randomBytes(12).toString('hex');
  const body = JSON.stringify({ pid: process.pid, host: hostname(), owner: options.owner, startedAt: new Date().toISOString(), token } satisfies Holder);
  let tookOver = false;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const handle = await fs.open(lock, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY, 0o644);
      try {
        await handle.writeFile(body);
      } finally {
        await handle.close();
      }
      if (tookOver && !(await lockStillOurs(lock, token))) {
        tookOver = false;
        continue; // another waiter took the stale lock over at the same moment and won
      }
      let released = false;
      return {
        release: async () => {
          if (released) return;
          released = true;
          const current = await fs.readFile(lock, 'utf8').catch(() => '');
          if (current.includes(token)) await fs.rm(lock, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    // Only ever a regular file we can read and, if stale, remove: never follow a planted symlink.
    await requireRegularOrAbsent(lock);
    const staleText = await fs.readFile(lock, 'utf8').catch(() => undefined);
    if (staleText === undefined) continue; // released meanwhile
    const holder = await readHolder(lock);
    const deadHolder = holder !== undefined && holder.host === hostname() && holder.pid !== undefined && !processAlive(holder.pid);
    // A lock that never got its contents (killed between create and write) is stale after a grace period.
    const emptyAndOld = holder === undefined && (await ageMs(lock)) > 10_000;
    if (deadHolder || emptyAndOld) {
      // The holder died without releasing: its work is either complete or harmless temp files.
      await removeStaleLock(lock, staleText);
      tookOver = true;
      continue;
    }
    if (Date.now() >= deadline) {
      throw new IngotError(
        ErrorCode.cacheLocked,
        `cache is in use by ${holder?.owner ?? 'another process'} (pid ${holder?.pid ?? '?'} on ${holder?.host ?? '?'}): ${cacheDir}`,
        {
          hint: `wait for it to finish or raise --lock-timeout; if that process is gone, remove ${lock}`,
          path: lock,
        },
      );
    }
    await sleep(Math.min(100, Math.max(10, deadline - Date.now())), undefined, { signal: options.signal });
  }
}

async function readHolder(file: string): Promise<Holder | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as Holder;
  } catch {
    // Being written right now, or garbage: treat as held by an unknown live owner.
    return undefined;
  }
}

async function ageMs(file: string): Promise<number> {
  const stat = await fs.stat(file).catch(() => undefined);
  return stat ? Date.now() - stat.mtimeMs : 0;
}
