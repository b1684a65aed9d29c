/**
 * A directory tree as archive entries: regular files, directories, symlinks,
 * device nodes and fifos, in byte order of their paths. Permission bits come
 * from the files; owners, mtimes and inode numbers do not (they would make
 * the archive depend on the machine). Files sharing an inode become one file
 * plus hard links to it, the first in path order carrying the name.
 */
import { createReadStream, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ErrorCode, IngotError } from '../errors.js';
import { comparePaths, DEFAULT_MODES, type ArchiveEntry, type DataSource } from './entry.js';

/**
 * Files up to this size are read in one synchronous call; larger ones are
 * streamed. Why sync: an initramfs is hundreds of small files from the page
 * cache, and each promise-based open/fstat/read/close costs a thread-pool
 * round trip — measured 3–4× the CPU of the whole GNU `cpio -o`. A sync read
 * of a small cached file blocks the event loop for microseconds.
 */
const SMALL_FILE = 1 << 20;

/**
 * How permission bits of a tree are taken. "normalize" (the default) keeps
 * only what Git keeps — whether the owner may execute a file — so the same
 * checkout gives the same archive whatever the umask; "preserve" takes the
 * bits as they are (setuid, 0600 keys …) for trees made by a build step.
 */
export type TreeModes = 'normalize' | 'preserve';

/** Lists `root` recursively as entries with paths relative to it (prefixed by `prefix`, if given). */
export async function collectTree(root: string, options: { signal?: AbortSignal; prefix?: string; modes?: TreeModes } = {}): Promise<ArchiveEntry[]> {
  const rootStat = await fs.stat(root).catch((error: NodeJS.ErrnoException) => {
    throw new IngotError(ErrorCode.initramfsInput, `cannot read the initramfs tree ${root}: ${error.code ?? error.message}`, {
      path: root,
      hint: "source.tree is a directory relative to the manifest's directory",
      cause: error,
    });
  });
  if (!rootStat.isDirectory()) throw new IngotError(ErrorCode.initramfsInput, `the initramfs tree ${root} is not a directory`, { path: root });

  const out: ArchiveEntry[] = [];
  const inodes = new Map<string, string>();
  const walk = async (dir: string, rel: string): Promise<void> => {
    options.signal?.throwIfAborted();
    // Sync metadata calls for the same reason as SMALL_FILE: many tiny requests.
    const names = readdirSync(dir).sort(comparePaths);
    for (const name of names) {
      // ingot's own state (the default store, VMs, temporary files) is never part of a tree.
      if (rel === (options.prefix ?? '') && (name === '.ingot' || name.startsWith('.ingot-'))) continue;
      const full = path.join(dir, name);
      const entryPath = rel ? `${rel}/${name}` : name;
      const st = lstatSync(full);
      const common = { path: entryPath, mode: options.modes === 'preserve' ? st.mode & 0o7777 : normalMode(st), uid: 0, gid: 0 };
      if (st.isDirectory()) {
        out.push({ ...common, kind: 'directory' });
        await walk(full, entryPath);
      } else if (st.isFile()) {
        out.push({ ...common, kind: 'file', data: fileData(full, st.size) });
        if (st.nlink > 1) {
          const key = `${st.dev}:${st.ino}`;
          const first = inodes.get(key);
          if (first === undefined) inodes.set(key, entryPath);
          else out[out.length - 1] = { ...common, kind: 'hardlink', target: first };
        }
      } else if (st.isSymbolicLink()) {
        out.push({ ...common, kind: 'symlink', target: readlinkSync(full) });
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        out.push({ ...common, kind: st.isCharacterDevice() ? 'char' : 'block', ...splitDev(st.rdev) });
      } else if (st.isFIFO()) {
        out.push({ ...common, kind: 'fifo' });
      } else {
        throw new IngotError(ErrorCode.initramfsInput, `unsupported file type in the initramfs tree: ${full} is a socket`, {
          path: full,
          hint: 'remove it from the tree; sockets are created at run time',
        });
      }
    }
  };
  await walk(root, options.prefix ?? '');
  return out;
}

function normalMode(st: { mode: number; isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean; isFIFO(): boolean }): number {
  if (st.isFile()) return st.mode & 0o100 ? 0o755 : 0o644;
  if (st.isDirectory()) return DEFAULT_MODES.directory;
  if (st.isSymbolicLink()) return DEFAULT_MODES.symlink;
  return st.isFIFO() ? DEFAULT_MODES.fifo : DEFAULT_MODES.char;
}

/** Bytes of a file on disk, read when the writer gets to it. */
export function fileData(file: string, size: number): DataSource {
  return {
    size,
    origin: file,
    read: () => {
      if (size > SMALL_FILE) return createReadStream(file, { highWaterMark: SMALL_FILE });
      try {
        return readFileSync(file);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        throw new IngotError(ErrorCode.initramfsInput, `cannot read ${file} while writing the archive: ${code}`, { path: file, cause: error });
      }
    },
  };
}

/** Linux dev_t → major/minor (glibc's gnu_dev_major/gnu_dev_minor). */
export function splitDev(rdev: number): { major: number; minor: number } {
  const lo = rdev % 2 ** 32;
  const hi = Math.floor(rdev / 2 ** 32);
  return {
    major: (((lo >>> 8) & 0xfff) | (hi & ~0xfff)) >>> 0,
    minor: ((lo & 0xff) | ((lo >>> 12) & ~0xff)) >>> 0,
  };
}
