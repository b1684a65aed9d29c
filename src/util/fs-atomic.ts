/**
 * Durable small-file writes shared by the directory store and the host cache:
 * write under a temporary name in the same directory, fsync, rename over the
 * target, fsync the directory — a reader sees the old bytes or the new ones.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

/** Temporary files start with this; listings skip them and prune clears old ones. */
export const TEMP_PREFIX = '.ingot-tmp-';

/** A temporary name beside `file`. */
export function tempNameFor(file: string): string {
  return path.join(path.dirname(file), `${TEMP_PREFIX}${randomBytes(6).toString('hex')}-${path.basename(file)}`);
}

/** Writes `data` to `file` atomically and durably; removes the temporary file on failure. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const temp = tempNameFor(file);
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
