/**
 * Durable small-file writes shared by the directory store and the host cache:
 * write under a temporary name in the same directory, fsync, rename over the
 * target, fsync the directory — a reader sees the old bytes or the new ones.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { hostname } from 'node:os';
import * as path from 'node:path';

/** Temporary files start with this; listings skip them and prune clears old ones. */
export const TEMP_PREFIX = '.ingot-tmp-';

/** A temporary file whose owner is unknown (another host, an older ingot) is left alone until it is this old. */
export const STALE_TEMP_AGE_MS = 3_600_000;

/** This host, short, for temporary names (the hostname itself may be long or odd). */
const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
const OWNED = new RegExp(`^${TEMP_PREFIX.replace(/[.]/g, '\\.')}(\\d+)-([0-9a-f]{8})-[0-9a-f]{12}-`);

/**
 * A temporary name beside `file`, carrying its owner (pid and host) so a
 * later run can tell a killed run's leftovers from a live run's work:
 * `.ingot-tmp-<pid>-<host>-<random>-<name>`.
 */
export function tempNameFor(file: string): string {
  return path.join(path.dirname(file), `${TEMP_PREFIX}${process.pid}-${HOST_TAG}-${randomBytes(6).toString('hex')}-${path.basename(file)}`);
}

/** The owner recorded in a temporary file's name; undefined for other names (older ingot versions). */
export function tempOwner(name: string): { pid: number; thisHost: boolean } | undefined {
  const match = OWNED.exec(path.basename(name));
  if (!match) return undefined;
  return { pid: Number(match[1]), thisHost: match[2] === HOST_TAG };
}

/**
 * Whether a temporary file is a dead run's leftover: its owner ran on this
 * host and is gone (whatever the file's age), or, when the owner cannot be
 * checked, the file has not changed for `minAgeMs`. A live owner's file on
 * this host is never stale.
 */
export function isStaleTemp(name: string, modifiedMs: number | undefined, now = Date.now(), minAgeMs = STALE_TEMP_AGE_MS): boolean {
  const owner = tempOwner(name);
  if (owner?.thisHost) return owner.pid !== process.pid && !processAlive(owner.pid);
  return modifiedMs === undefined || now - modifiedMs > minAgeMs;
}

/**
 * Writes `data` to `file` atomically and durably; removes the temporary file on failure.
 * `tempSuffix` ends the temporary name (e.g. ".tmp", so a reader matching "*.prom" skips it).
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644, tempSuffix = ''): Promise<void> {
  const temp = `${tempNameFor(file)}${tempSuffix}`;
  try {
    const handle = await fs.open(temp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
    await syncDir(path.dirname(file));
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
}

/** fsyncs a directory so a rename in it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Whether a process exists on this host (EPERM: it exists, but is not ours). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes a stale lock file only if it still holds `staleText`: another
 * waiter may already have taken it over, and its fresh lock must survive.
 */
export async function removeStaleLock(file: string, staleText: string): Promise<void> {
  const current = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (current === staleText) await fs.rm(file, { force: true });
}

/** After taking over a lock: let a concurrent taker finish, then check the lock still carries our token. */
export async function lockStillOurs(file: string, token: string, settleMs = 150): Promise<boolean> {
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  const current = await fs.readFile(file, 'utf8').catch(() => '');
  return current.includes(token);
}
