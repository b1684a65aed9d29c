/**
 * The directory store backend. Every write goes to a temporary name in the
 * target's own directory, is fsynced, renamed over the final name, and the
 * directory is fsynced, so a crash at any moment leaves either the old bytes
 * or the new ones under a final name, never a truncated file.
 */
import { createReadStream, createWriteStream, constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { finished } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, IngotError } from '../errors.js';
import type { BlobInfo, GetOptions, LockOptions, StoreBackend, StoreLock, Upload, UploadOptions } from './backend.js';
import { objectTooLarge } from './layout.js';
import { assertSafeKey } from './keys.js';
import { isStaleTemp, lockStillOurs, processAlive, removeStaleLock, syncDir, TEMP_PREFIX, tempNameFor, writeFileAtomic } from '../util/fs-atomic.js';

export { TEMP_PREFIX };
const LOCK_NAME = '.ingot-lock';
/** An unreadable lock file is being written at most this long by a live run (create, then write). */
const UNREADABLE_GRACE_MS = 2_000;
/** An unreadable lock file older than this lost its writer: taken over without --break-lock. */
const UNREADABLE_ABANDONED_MS = 60_000;

export class FsBackend implements StoreBackend {
  readonly kind = 'fs';
  readonly displayUrl: string;

  constructor(readonly root: string) {
    this.root = path.resolve(root);
    this.displayUrl = this.root;
  }

  #file(key: string): string {
    assertSafeKey(key);
    const full = path.join(this.root, ...key.split('/'));
    if (!full.startsWith(this.root + path.sep)) throw new Error(`store key escapes the store: ${key}`);
    return full;
  }

  async get(key: string, _signal?: AbortSignal, options: GetOptions = {}): Promise<Buffer | undefined> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.#file(key), 'r');
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw ioError('read', key, error);
    }
    try {
      const max = options.maxBytes;
      if (max === undefined) return await handle.readFile();
      const { size } = await handle.stat();
      if (size > max) throw objectTooLarge(key, this.displayUrl, max, size);
      // Read at most max + 1 bytes: a file that grew after stat is caught too.
      const buffer = Buffer.allocUnsafe(Math.min(size, max) + 1);
      let filled = 0;
      for (;;) {
        const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
        if (filled > max) throw objectTooLarge(key, this.displayUrl, max);
        if (filled === buffer.length) break;
      }
      return buffer.subarray(0, filled);
    } catch (error) {
      throw ioError('read', key, error);
    } finally {
      await handle.close();
    }
  }

  async put(key: string, data: Uint8Array | string): Promise<void> {
    const file = this.#file(key);
    try {
      await fs.mkdir(path.dirname(file), { recursive: true });
      await writeFileAtomic(file, data);
    } catch (error) {
      throw ioError('write', key, error);
    }
  }

  async read(key: string): Promise<Readable> {
    const file = this.#file(key);
    // Open first so a missing file fails here, not on the first read.
    const handle = await fs.open(file, 'r').catch((error: unknown) => {
      throw isNotFound(error)
        ? new IngotError(ErrorCode.storeIo, `not in the store: ${key}`, { path: key, cause: error })
        : ioError('read', key, error);
    });
    return createReadStream('', { fd: handle, highWaterMark: 1 << 20, autoClose: true });
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    try {
      const s = await fs.stat(this.#file(key));
      return s.isFile() ? { key, size: s.size, modified: s.mtime } : undefined;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw ioError('stat', key, error);
    }
  }

  async upload(key: string, _options: UploadOptions = {}): Promise<Upload> {
    const file = this.#file(key);
    let temp: string;
    let handle: fs.FileHandle;
    try {
      temp = await this.#tempFor(file);
      handle = await fs.open(temp, 'wx', 0o644);
    } catch (error) {
      throw ioError('write', key, error);
    }
    const writable = createWriteStream('', { fd: handle.fd, highWaterMark: 1 << 20, autoClose: false, flush: false });
    let settled = false;
    const closeHandle = async () => {
      // Let an in-flight write finish before the descriptor goes away (else EBADF).
      if (!writable.closed) {
        const closed = new Promise<void>((resolve) => writable.once('close', () => resolve()));
        writable.destroy();
        await closed;
      }
      await handle.close().catch(() => undefined);
    };
    return {
      writable,
      commit: async () => {
        if (settled) throw new Error('upload already settled');
        settled = true;
        try {
          if (!writable.writableFinished) await finished(writable);
          await handle.sync();
          await handle.close();
          await fs.rename(temp, file);
          await syncDir(path.dirname(file));
        } catch (error) {
          await closeHandle();
          await fs.rm(temp, { force: true });
          throw ioError('write', key, error);
        }
      },
      abort: async () => {
        if (settled) return;
        settled = true;
        await closeHandle();
        await fs.rm(temp, { force: true });
      },
    };
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    const start = prefix === '' ? this.root : path.join(this.root, ...prefix.replace(/\/+$/, '').split('/'));
    const base = prefix.endsWith('/') || prefix === '' ? start : path.dirname(start);
    let entries: string[];
    try {
      entries = (await fs.readdir(base, { recursive: true })) as string[];
    } catch (error) {
      if (isNotFound(error) || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw ioError('list', prefix, error);
    }
    entries.sort();
    for (const entry of entries) {
      const full = path.join(base, entry);
      const key = path.relative(this.root, full).split(path.sep).join('/');
      if (!key.startsWith(prefix)) continue;
      if (path.basename(full).startsWith('.ingot-')) continue;
      const s = await fs.lstat(full).catch(() => undefined);
      if (!s?.isFile()) continue;
      yield { key, size: s.size, modified: s.mtime };
    }
  }

  /** Temp files left behind by killed runs, for `prune` to clear. */
  async *listTemporary(): AsyncIterable<BlobInfo> {
    let entries: string[];
    try {
      entries = (await fs.readdir(this.root, { recursive: true })) as string[];
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    for (const entry of entries.sort()) {
      if (!path.basename(entry).startsWith(TEMP_PREFIX)) continue;
      const s = await fs.lstat(path.join(this.root, entry)).catch(() => undefined);
      if (s?.isFile()) yield { key: entry.split(path.sep).join('/'), size: s.size, modified: s.mtime };
    }
  }

  /**
   * Removes the temporary files of runs that died (killed mid-upload) — see
   * `isStaleTemp`: never those of a live run, here or on another host.
   * Returns what was removed.
   */
  async sweepTemporary(now = Date.now()): Promise<BlobInfo[]> {
    const removed: BlobInfo[] = [];
    for await (const info of this.listTemporary()) {
      if (!isStaleTemp(info.key, info.modified?.getTime(), now)) continue;
      await this.removeTemporary(info.key);
      removed.push(info);
    }
    return removed;
  }

  async removeTemporary(key: string): Promise<void> {
    const full = path.join(this.root, ...key.split('/'));
    if (!path.basename(full).startsWith(TEMP_PREFIX) || !full.startsWith(this.root + path.sep)) {
      throw new Error(`not a temporary file: ${key}`);
    }
    await fs.rm(full, { force: true });
  }

  async delete(keys: readonly string[]): Promise<void> {
    const dirs = new Set<string>();
    for (const key of keys) {
      const file = this.#file(key);
      await fs.rm(file, { force: true }).catch((error: unknown) => {
        throw ioError('delete', key, error);
      });
      dirs.add(path.dirname(file));
    }
    // Remove directories left empty, up to (not including) the store root.
    for (const dir of [...dirs].sort((a, b) => b.length - a.length)) {
      let current = dir;
      while (current.startsWith(this.root + path.sep)) {
        try {
          await fs.rmdir(current);
        } catch {
          break;
        }
        current = path.dirname(current);
      }
    }
  }

  async lock(options: LockOptions): Promise<StoreLock> {
    await fs.mkdir(this.root, { recursive: true });
    const file = path.join(this.root, LOCK_NAME);
    const deadline = Date.now() + options.timeoutMs;
    const token = randomBytes(12).toString('hex');
    const body = (startedAt: number) =>
      JSON.stringify({
        token,
        owner: options.owner,
        host: hostname(),
        pid: process.pid,
        startedAt: new Date(startedAt).toISOString(),
        expiresAt: new Date(Date.now() + options.ttlMs).toISOString(),
      });
    let tookOver = false;
    for (;;) {
      const startedAt = Date.now();
      try {
        // O_EXCL: exactly one creator wins, on every local filesystem.
        const handle = await fs.open(file, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY, 0o644);
        await handle.writeFile(body(startedAt));
        await handle.sync();
        await handle.close();
        if (tookOver && !(await lockStillOurs(file, `"token":"${token}"`))) {
          tookOver = false;
          continue; // another run took the stale lock over at the same moment and won
        }
        // Heartbeat: push the expiry forward while we run, so only a dead run's lock expires.
        let beating: Promise<void> = Promise.resolve();
        const heartbeat = setInterval(() => {
          const temp = `${file}.${process.pid}.tmp`;
          beating = fs
            .readFile(file, 'utf8')
            .then(async (current) => {
              // Refresh only a lock that is still ours (another run may have broken it).
              if (!current.includes(`"token":"${token}"`)) return;
              await fs.writeFile(temp, body(startedAt));
              await fs.rename(temp, file);
            })
            .catch(() => undefined);
        }, Math.max(1000, options.ttlMs / 3));
        heartbeat.unref();
        return {
          release: async () => {
            clearInterval(heartbeat);
            await beating;
            // Only our own lock: a run that broke ours after we stalled now holds it.
            const current = await fs.readFile(file, 'utf8').catch(() => '');
            if (current.includes(`"token":"${token}"`)) await fs.rm(file, { force: true });
          },
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError('lock', LOCK_NAME, error);
      }
      const staleText = await fs.readFile(file, 'utf8').catch(() => undefined);
      if (staleText === undefined) continue; // released meanwhile
      const holder = parseLockHolder(staleText);
      const unreadable = holder.unreadable === true;
      const age = unreadable ? Date.now() - (await fs.stat(file).then((s) => s.mtimeMs).catch(() => Date.now())) : 0;
      // An unreadable lock (empty or garbage) older than a minute lost its writer between create
      // and write; --break-lock takes one over once it is past the create→write window.
      const abandoned = unreadable && (age > UNREADABLE_ABANDONED_MS || (options.breakExpired && age > UNREADABLE_GRACE_MS));
      const breakNow = options.breakExpired && !unreadable && breakable(holder);
      if (breakNow || holderIsDead(holder) || abandoned) {
        await removeStaleLock(file, staleText);
        tookOver = true;
        continue;
      }
      if (unreadable && options.breakExpired) {
        // Give a writer that has just created the file time to fill it, then take it over.
        await sleep(Math.max(50, UNREADABLE_GRACE_MS - age + 50), undefined, { signal: options.signal });
        continue;
      }
      if (Date.now() >= deadline) throw lockedError(this.displayUrl, holder);
      await sleep(Math.min(500, Math.max(50, deadline - Date.now())), undefined, { signal: options.signal });
    }
  }

  async close(): Promise<void> {}

  async #tempFor(file: string): Promise<string> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    return tempNameFor(file);
  }
}

export interface LockHolder {
  owner?: string;
  host?: string;
  pid?: number;
  startedAt?: string;
  expiresAt?: string;
  expired: boolean;
  /** Empty or not JSON: its writer died between creating and writing it. */
  unreadable?: boolean;
}

/**
 * A lock file's holder. Empty or non-JSON text is `unreadable` (its writer
 * died between create and write, or it is not ingot's). A holder without a
 * valid `expiresAt` can never expire: `--break-lock` may take it over.
 */
export function parseLockHolder(text: string): LockHolder & { token?: string } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { expired: false, unreadable: true };
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return { expired: false, unreadable: true };
  const d = data as Record<string, unknown>;
  const text_ = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const expires = text_(d.expiresAt) ? Date.parse(d.expiresAt as string) : NaN;
  const holder = {
    ...(text_(d.owner) ? { owner: text_(d.owner) } : {}),
    ...(text_(d.host) ? { host: text_(d.host) } : {}),
    ...(Number.isSafeInteger(d.pid) ? { pid: d.pid as number } : {}),
    ...(text_(d.startedAt) ? { startedAt: text_(d.startedAt) } : {}),
    ...(Number.isFinite(expires) ? { expiresAt: d.expiresAt as string } : {}),
    ...(text_(d.token) ? { token: text_(d.token) } : {}),
    expired: Number.isFinite(expires) && expires < Date.now(),
  };
  // JSON that says nothing about who holds it or until when is as good as garbage.
  return holder.owner === undefined && holder.expiresAt === undefined && holder.pid === undefined ? { expired: false, unreadable: true } : holder;
}

/** Whether --break-lock may take this lock over: it expired, or it can never expire. */
export function breakable(holder: LockHolder): boolean {
  return holder.expired || holder.unreadable === true || holder.expiresAt === undefined;
}

/** The error for a store held by another run. */
export function lockedError(store: string, holder: LockHolder | undefined): IngotError {
  if (holder?.unreadable) {
    return new IngotError(ErrorCode.storeLocked, `store is locked by an unreadable lock file (empty, or not written by ingot): ${store}`, {
      hint: 'if no ingot run is using this store, re-run with --break-lock to take the lock over',
      details: { unreadable: true },
    });
  }
  const who = holder?.owner ? `${holder.owner}${holder.host ? ` on ${holder.host}` : ''}${holder.startedAt ? ` since ${holder.startedAt}` : ''}` : 'another run';
  const hint = holder?.expired
    ? 'the lock has expired: re-run with --break-lock to take it over'
    : holder?.expiresAt === undefined
      ? 'the lock has no expiry, so it never expires: wait for that run to finish, or, if it is dead, re-run with --break-lock'
      : `wait for it to finish, raise --lock-timeout, or, if that run is dead, wait for expiry at ${holder.expiresAt} and use --break-lock`;
  return new IngotError(ErrorCode.storeLocked, `store is locked by ${who}: ${store}`, {
    hint,
    details: holder ? { ...holder, token: undefined } : undefined,
  });
}

/** A holder on this host whose process is gone cannot be holding the lock: any store may take it over. */
export function holderIsDead(holder: { host?: string; pid?: number }): boolean {
  return holder.host === hostname() && typeof holder.pid === 'number' && holder.pid !== process.pid && !processAlive(holder.pid);
}


function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

function ioError(what: string, key: string, cause: unknown): IngotError {
  if (cause instanceof IngotError) return cause;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (what === 'write' && (code === 'ENOTDIR' || code === 'EISDIR' || code === 'EEXIST')) {
    // "a" is a file and "a/b" is wanted (or the other way round): one key is the other's directory.
    return new IngotError(ErrorCode.destinationConflict, `cannot write ${key}: a file and a directory of the store collide on this path (${code})`, {
      path: key,
      cause,
      hint: 'another image (or a left-over file) uses a parent or child of this path; give the images paths that do not nest, then `ingot prune`',
    });
  }
  const message = cause instanceof Error ? cause.message : String(cause);
  return new IngotError(ErrorCode.storeIo, `cannot ${what} ${key}: ${message}`, { path: key, cause });
}

