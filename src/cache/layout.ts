/**
 * The host cache on disk:
 *
 *     <cache>/<file>              verified bytes (basename of the image path)
 *     <cache>/<file>.sha256       sidecar, `sha256sum -c` format
 *     <cache>/current[-<family>]  symlink to the selected file
 *     <cache>/.ingot/state.json   what was pulled, from where, and the
 *                                 last index/channel versions accepted
 *     <cache>/.ingot/lock         held by one pull/use/rollback at a time
 *     <cache>/.ingot/tmp/         downloads in progress (same filesystem,
 *                                 so the final rename is atomic)
 *
 * Every change is write-temp, fsync, rename, fsync-dir: a process killed at
 * any point leaves each name with its old or its new content.
 *
 * Nothing here trusts the directory's contents: a neighbour may plant
 * symlinks or edit state.json. `.ingot`, `.ingot/tmp`, the lock and the state
 * file must be what ingot made (a real directory, regular files), never
 * followed through a symlink; every file name read from state or a link is
 * checked to be a plain name inside the cache (`cacheFile`) before anything
 * is deleted, linked or trusted; a cached file counts only while it is a
 * regular file.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { digestHex, type Digest } from '../digest/digest.js';
import { ErrorCode, IngotError } from '../errors.js';
import { syncDir, writeFileAtomic as atomicWrite } from '../util/fs-atomic.js';

/** The cache's bookkeeping directory. */
export const STATE_DIR = '.ingot';

/** Paths of a cache directory's bookkeeping. */
export function cachePaths(cacheDir: string) {
  const root = path.resolve(cacheDir);
  const state = path.join(root, STATE_DIR);
  return { root, stateDir: state, stateFile: path.join(state, 'state.json'), lock: path.join(state, 'lock'), tmp: path.join(state, 'tmp') };
}

/** The link name for a family: `current` without one, `current-<family>` with one. */
export function linkName(family: string): string {
  return family === '' ? 'current' : `current-${family}`;
}

/** The sidecar's text: "<hex>  <file>\n", exactly what `sha256sum <file>` prints. */
export function sidecarText(sha256: Digest, file: string): string {
  return `${digestHex(sha256)}  ${file}\n`;
}

/** Why a file name cannot live in the cache, or undefined. */
export function cacheFileProblem(file: string): string | undefined {
  if (file === '' || file === '.' || file === '..' || file.includes('/')) return 'not a plain file name';
  // sha256sum escapes such names in its output, so the sidecar would not round-trip.
  if (/[\x00-\x1f\x7f\\]/.test(file)) return 'contains control characters or a backslash';
  if (file === STATE_DIR || file.startsWith('.ingot')) return 'uses the reserved ".ingot" prefix';
  if (/^current(-|$)/.test(file)) return 'collides with the "current" link names';
  if (file.endsWith('.sha256')) return 'collides with the ".sha256" sidecar names';
  return undefined;
}

/** The error for a cache that holds something ingot did not put there. */
export function cacheUnsafe(message: string, where: string, hint?: string): IngotError {
  return new IngotError(ErrorCode.cacheUnsafe, message, {
    path: where,
    hint: hint ?? `something other than ingot changed ${where}; inspect it, remove it if it is not yours, and pull again`,
  });
}

/** `<root>/<file>` after checking `file` is a plain file name that may live in the cache. */
export function cacheFile(root: string, file: unknown, what = 'a cached file'): string {
  const problem = typeof file === 'string' ? cacheFileProblem(file) : 'not a string';
  if (problem) throw cacheUnsafe(`refusing ${what} named ${JSON.stringify(file)}: ${problem}`, root);
  return path.join(root, file as string);
}

/**
 * Makes sure `dir` is a real directory that ingot may use, creating it when
 * absent. A symlink (or a file) in its place is refused, never followed: it
 * would send deletes and writes outside the cache.
 */
export async function ensureOwnDir(dir: string): Promise<void> {
  const inspect = () =>
    fs.lstat(dir).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : Promise.reject(cacheIo(`inspect ${dir}`, error))));
  let stat = await inspect();
  if (!stat) {
    await fs.mkdir(dir).catch((error: NodeJS.ErrnoException) => (error.code === 'EEXIST' ? undefined : Promise.reject(cacheIo(`create ${dir}`, error))));
    stat = await inspect();
    if (!stat) throw cacheIo(`create ${dir}`, new Error('it vanished after mkdir'));
  }
  if (stat.isSymbolicLink()) throw cacheUnsafe(`refusing to use ${dir}: it is a symbolic link`, dir);
  if (!stat.isDirectory()) throw cacheUnsafe(`refusing to use ${dir}: it is not a directory`, dir);
}

/** The cache's bookkeeping directories (`.ingot`, and `.ingot/tmp` with `tmp`), checked or created. */
export async function ensureStateDirs(cacheDir: string, options: { tmp?: boolean } = {}): Promise<void> {
  const paths = cachePaths(cacheDir);
  await ensureOwnDir(paths.stateDir);
  if (options.tmp) await ensureOwnDir(paths.tmp);
}

/** Refuses `file` when it exists and is not a regular file (a symlink, a directory, a fifo…). */
export async function requireRegularOrAbsent(file: string): Promise<void> {
  const stat = await fs.lstat(file).catch(() => undefined);
  if (stat && !stat.isFile()) throw cacheUnsafe(`refusing to use ${file}: it is ${describeKind(stat)}, not a regular file`, file);
}

/** lstat of a cached file: its size when it is a regular file, else undefined (a symlink never counts). */
export async function regularFileSize(file: string): Promise<number | undefined> {
  const stat = await fs.lstat(file).catch(() => undefined);
  return stat?.isFile() ? stat.size : undefined;
}

/** Reads a small regular file (never through a symlink); undefined when absent or not a regular file. */
export async function readRegularFile(file: string): Promise<string | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile() || stat.size > 1 << 20) return undefined;
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** "a symbolic link", "a directory", … for messages. */
export function describeKind(stat: { isSymbolicLink(): boolean; isDirectory(): boolean; isFile(): boolean }): string {
  if (stat.isSymbolicLink()) return 'a symbolic link';
  if (stat.isDirectory()) return 'a directory';
  return stat.isFile() ? 'a regular file' : 'a special file';
}

/** Writes a small file atomically (temp in the same directory, fsync, rename, fsync dir). */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  try {
    await atomicWrite(file, data, mode);
  } catch (error) {
    throw cacheIo(`write ${file}`, error);
  }
}

/** Points `link` at `target` atomically: a new symlink under a temporary name, renamed over the old one. */
export async function switchLink(dir: string, link: string, target: string): Promise<void> {
  const temp = path.join(dir, `.ingot-tmp-link-${randomBytes(6).toString('hex')}`);
  try {
    await fs.symlink(target, temp);
    await fs.rename(temp, path.join(dir, link));
    await syncDir(dir);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw cacheIo(`switch ${link}`, error);
  }
}

/** The file a link points at (its basename), or undefined. */
export async function readLink(dir: string, link: string): Promise<string | undefined> {
  try {
    return path.basename(await fs.readlink(path.join(dir, link)));
  } catch {
    return undefined;
  }
}

/** Every current[-family] link in the cache and its target. */
export async function readLinks(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    if (!/^current(-|$)/.test(name)) continue;
    const target = await readLink(dir, name);
    if (target) out.set(name, target);
  }
  return out;
}

export { syncDir };

/** An I/O failure in the cache, as an IngotError. */
export function cacheIo(what: string, cause: unknown): IngotError {
  if (cause instanceof IngotError) return cause;
  return new IngotError(ErrorCode.storeIo, `cannot ${what}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
}
