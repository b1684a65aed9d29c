/**
 * The directory store backend. Every write goes to a temporary name in the
 * target's own directory, is fsynced, renamed over the final name, and the
 * directory is fsynced, so a crash at any moment leaves either the old bytes
 * or the new ones under a final name, never a truncated file.
 */
import { createReadStream, constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { finished } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, IngotError } from '../errors.js';
import type {
  BlobInfo,
  ByteRange,
  GetOptions,
  LockOptions,
  ReadRangeOptions,
  ResumableUpload,
  StoreBackend,
  StoreLock,
  Upload,
  UploadOptions,
} from './backend.js';
import { objectTooLarge } from './layout.js';
import { assertSafeKey } from './keys.js';
import { isStaleTemp, lockStillOurs, processAlive, removeStaleLock, syncDir, TEMP_PREFIX, tempNameFor, writeFileAtomic } from '../util/fs-atomic.js';
import { durableWriteStream } from '../util/durable-write.js';

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

  #realRoot: string | undefined;

  /**
   * The file behind a key, for reading: symbolic links are resolved and the
   * result must still lie inside the store, so a link planted in the store
   * (images/x -> /etc/shadow) is never followed out of it. Undefined when absent.
   */
  async #fileForRead(key: string): Promise<string | undefined> {
    const file = this.#file(key);
    let real: string;
    try {
      real = await fs.realpath(file);
      this.#realRoot ??= await fs.realpath(this.root);
    } catch (error) {
      if (isNotFound(error) || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw ioError('read', key, error);
    }
    if (!real.startsWith(this.#realRoot + path.sep)) {
      throw new IngotError(ErrorCode.storeIo, `refusing to read ${key}: a symbolic link leads out of the store ${this.root}`, {
        path: key,
        hint: 'replace the link with the file itself, or point it at a file inside the store',
      });
    }
    return real;
  }

  /** Opens a key for reading (no link followed out of the store) with its stat and validator. */
  async #open(key: string): Promise<{ handle: fs.FileHandle; info: BlobInfo & { etag: string } }> {
    const file = await this.#fileForRead(key);
    if (!file) throw new IngotError(ErrorCode.storeIo, `not in the store: ${key}`, { path: key });
    // O_NOFOLLOW: the resolved path has no links left; one swapped in since is refused.
    const handle = await fs.open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW).catch((error: unknown) => {
      throw isNotFound(error) ? new IngotError(ErrorCode.storeIo, `not in the store: ${key}`, { path: key, cause: error }) : ioError('read', key, error);
    });
    const s = await handle.stat({ bigint: true });
    if (!s.isFile()) {
      await handle.close();
      throw new IngotError(ErrorCode.storeIo, `not a file in the store: ${key}`, { path: key });
    }
    return { handle, info: { key, size: Number(s.size), modified: new Date(Number(s.mtimeMs)), etag: fsEtag(s) } };
  }

  async get(key: string, _signal?: AbortSignal, options: GetOptions = {}): Promise<Buffer | undefined> {
    let handle: fs.FileHandle;
    try {
      const file = await this.#fileForRead(key);
      if (file === undefined) return undefined;
      // O_NOFOLLOW: the resolved path has no links left; one swapped in since is refused.
      handle = await fs.open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
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
      await inDir(path.dirname(file), () => writeFileAtomic(file, data));
    } catch (error) {
      throw ioError('write', key, error);
    }
  }

  async read(key: string): Promise<Readable> {
    // Open first so a missing file fails here, not on the first read.
    const { handle } = await this.#open(key);
    return createReadStream('', { fd: handle, highWaterMark: 1 << 20, autoClose: true });
  }

  async readRange(key: string, range: ByteRange, options: ReadRangeOptions = {}): Promise<Readable> {
    const { handle, info } = await this.#open(key);
    if (options.ifMatch !== undefined && options.ifMatch !== info.etag) {
      await handle.close();
      throw changedError(key);
    }
    return createReadStream('', {
      fd: handle,
      start: range.start,
      ...(range.end !== undefined ? { end: range.end } : {}),
      highWaterMark: 1 << 20,
      autoClose: true,
    });
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    try {
      const file = await this.#fileForRead(key);
      if (file === undefined) return undefined;
      const s = await fs.stat(file, { bigint: true });
      return s.isFile() ? { key, size: Number(s.size), modified: new Date(Number(s.mtimeMs)), etag: fsEtag(s) } : undefined;
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
      temp = tempNameFor(file);
      handle = await inDir(path.dirname(file), () => fs.open(temp, 'wx', 0o644));
    } catch (error) {
      throw ioError('write', key, error);
    }
    const writable = durableWriteStream(handle);
    let settled = false;
    const closeHandle = async () => {
      // Let an in-flight write finish before the descriptor goes away (else EBADF). The stream
      // holds the FileHandle, not its number: its close and ours close the descriptor once, so a
      // number the kernel has meanwhile given to a concurrent open is never closed by mistake.
      if (!writable.closed) {
        const closed = new Promise<void>((resolve) => writable.once('close', () => resolve()));
        writable.destroy();
        await closed;
      }
      await handle.close().catch(() => undefined);
    };
    return {
      writable,
      direct: { handle, path: temp },
      commit: async () => {
        if (settled) throw new Error('upload already settled');
        settled = true;
        try {
          // Ended: the stream flushes (fsync) and closes its FileHandle, then the name is given.
          if (!writable.closed) await finished(writable);
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

  /**
   * A write kept under `.ingot-tmp-part-<id>-<name>` between attempts: an
   * interrupted copy resumes from the bytes already on disk. The caller
   * re-hashes them (`existing()`) and verifies the whole before `commit()`.
   */
  async resumableUpload(key: string, id: string, _options: UploadOptions = {}): Promise<ResumableUpload> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new Error(`bad resumable upload id "${id}"`);
    const file = this.#file(key);
    const partial = path.join(path.dirname(file), `${TEMP_PREFIX}part-${id}-${path.basename(file)}`.slice(0, 255));
    const handle = await inDir(path.dirname(file), () => fs.open(partial, fsc.O_CREAT | fsc.O_WRONLY | fsc.O_APPEND | fsc.O_NOFOLLOW, 0o644));
    const offset = (await handle.stat()).size;
    const writable = durableWriteStream(handle);
    let settled = false;
    const closeHandle = async () => {
      // destroy() lets a write in flight finish first; bytes still queued are dropped (the caller re-hashes what is kept).
      if (!writable.closed) {
        const closed = new Promise<void>((resolve) => writable.once('close', () => resolve()));
        writable.destroy();
        await closed;
      }
      await handle.close().catch(() => undefined);
    };
    const settle = () => {
      if (settled) throw new Error('upload already settled');
      settled = true;
    };
    return {
      writable,
      offset,
      existing: async () => (offset === 0 ? Readable.from([]) : createReadStream(partial, { start: 0, end: offset - 1, highWaterMark: 1 << 20 })),
      commit: async () => {
        settle();
        try {
          if (!writable.closed) await finished(writable);
          await fs.rename(partial, file);
          await syncDir(path.dirname(file));
        } catch (error) {
          await closeHandle();
          throw ioError('write', key, error);
        }
      },
      abort: async () => {
        if (settled) return;
        settled = true;
        await closeHandle();
        await fs.rm(partial, { force: true });
      },
      suspend: async () => {
        if (settled) return;
        settled = true;
        await closeHandle();
      },
    };
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    const start = prefix === '' ? this.root : path.join(this.root, ...prefix.replace(/\/+$/, '').split('/'));
    const base = prefix.endsWith('/') || prefix === '' ? start : path.dirname(start);
    let entries: string[];
    try {
      // A prefix through a link that leads out of the store lists nothing.
      const [realBase, realRoot] = await Promise.all([fs.realpath(base), fs.realpath(this.root)]);
      if (realBase !== realRoot && !realBase.startsWith(realRoot + path.sep)) return;
      entries = await walkFiles(base);
    } catch (error) {
      if (isNotFound(error) || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw ioError('list', prefix, error);
    }
    entries.sort();
    const wanted = entries
      .map((entry) => ({ full: path.join(base, entry) }))
      .map(({ full }) => ({ full, key: path.relative(this.root, full).split(path.sep).join('/') }))
      .filter(({ full, key }) => key.startsWith(prefix) && !path.basename(full).startsWith('.ingot-'));
    // Stat many at once (in order): one at a time, a 1,000-entry listing waits out 1,000 thread-pool round trips.
    for (let i = 0; i < wanted.length; i += LIST_STAT_BATCH) {
      const batch = wanted.slice(i, i + LIST_STAT_BATCH);
      const stats = await Promise.all(batch.map(({ full }) => fs.lstat(full, { bigint: true }).catch(() => undefined)));
      for (const [j, s] of stats.entries()) {
        if (!s?.isFile()) continue;
        yield { key: batch[j]!.key, size: Number(s.size), modified: new Date(Number(s.mtimeMs)), etag: fsEtag(s) };
      }
    }
  }

  /** Temp files left behind by killed runs, for `prune` to clear. */
  async *listTemporary(): AsyncIterable<BlobInfo> {
    let entries: string[];
    try {
      entries = await walkFiles(this.root);
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
        const heartbeat = setInterval(
          () => {
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
          },
          Math.max(1000, options.ttlMs / 3),
        );
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
      const age = unreadable
        ? Date.now() -
          (await fs
            .stat(file)
            .then((s) => s.mtimeMs)
            .catch(() => Date.now()))
        : 0;
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
}

/** How often {@link inDir} makes the directory again before it gives up. */
export const IN_DIR_ATTEMPTS = 10;

/**
 * Makes `dir` and runs `create`, which creates a file in it. `delete` removes
 * directories left empty, so a concurrent delete (another image's old
 * metadata dropped in the same directory) can remove `dir` between the mkdir
 * and the create: ENOENT means "make it again and retry".
 * Once the file exists the directory is not empty and stays.
 */
export async function inDir<T>(dir: string, create: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      // Even a recursive mkdir can fail so: a parent it just made can be removed before it makes the next level.
      await fs.mkdir(dir, { recursive: true });
      return await create();
    } catch (error) {
      // ENOENT while making a directory or creating a file in it means a directory on the way vanished.
      if (attempt >= IN_DIR_ATTEMPTS || (error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
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
  const who = holder?.owner
    ? `${holder.owner}${holder.host ? ` on ${holder.host}` : ''}${holder.startedAt ? ` since ${holder.startedAt}` : ''}`
    : 'another run';
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

/**
 * Every entry below `dir` that is not a directory, relative to it. Symbolic
 * links are reported, never descended into (Node's recursive readdir follows
 * links to directories, out of the store and round in loops).
 */
async function walkFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (rel: string) => {
    let entries;
    try {
      entries = await fs.readdir(path.join(dir, rel), { withFileTypes: true });
    } catch (error) {
      // A directory removed while we walk (a delete prunes empty ones) just has nothing in it.
      if (rel !== '' && (isNotFound(error) || (error as NodeJS.ErrnoException).code === 'ENOTDIR')) return;
      throw error;
    }
    for (const entry of entries) {
      const child = rel ? path.join(rel, entry.name) : entry.name;
      if (entry.isDirectory()) await visit(child);
      else out.push(child);
    }
  };
  await visit('');
  return out;
}

/** inode, size and mtime (ns): a new file under the name (every write renames one in) changes it. */
/** Entries stat'ed at once while listing. */
const LIST_STAT_BATCH = 64;

function fsEtag(s: { ino: bigint; size: bigint; mtimeNs: bigint }): string {
  return `${s.ino.toString(36)}-${s.size.toString(36)}-${s.mtimeNs.toString(36)}`;
}

function changedError(key: string): IngotError {
  return new IngotError(ErrorCode.storeChanged, `${key} changed while it was being read`, {
    path: key,
    hint: 'it was re-published in the meantime; read it again',
  });
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
