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
 */
import { randomBytes } from 'node:crypto';
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
