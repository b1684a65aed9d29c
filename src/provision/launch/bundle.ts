/**
 * Bundles: a local directory (or one file) packed into ONE tar stream, so a
 * transfer is one copy and one `tar -x` in the guest, whatever the number of
 * files. Modes are taken from the host, with two corrections:
 *   - exec bits are restored (wherever a read bit is set) on every `*.sh`
 *     and every file starting with "#!": checkouts on Windows, zip files and
 *     some transfers lose them (000, P5), and a script without its x bit
 *     breaks health checks;
 *   - set-id bits are dropped.
 * Symbolic links are kept only when they point inside the bundle (a relative
 * target that stays under the root); an absolute target or one escaping the
 * root is refused, as are sockets, fifos and devices — nothing from outside
 * the bundle reaches the guest.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, ExitCode, IngotError } from '../../errors.js';
import { encodeHeader, endOfArchive, padding, type TarHeader } from './tar.js';

/** One member of a bundle. */
export interface BundleEntry extends TarHeader {
  /** The host file a regular file's bytes come from. */
  source?: string;
}

/** Whether a file gets exec bits by the bundle rule: `*.sh`, or content starting with "#!". */
export function wantsExec(name: string, head: Buffer): boolean {
  return name.endsWith('.sh') || (head.length >= 2 && head[0] === 0x23 && head[1] === 0x21);
}

/** The mode a file travels with: host bits without set-id, plus x wherever r when the rule applies. */
export function bundleMode(hostMode: number, exec: boolean): number {
  const mode = hostMode & 0o777;
  return exec ? mode | ((mode & 0o444) >> 2) : mode;
}

/**
 * Lists `root` as bundle entries (sorted, directories before their
 * contents). When `root` is a file, the bundle is that one file named `as`.
 */
export async function collectBundle(root: string, as?: string): Promise<BundleEntry[]> {
  const top = await lstat(root).catch((error: unknown) => {
    throw new IngotError(ErrorCode.bundleInvalid, `bundle not found: ${root}`, { path: root, exitCode: ExitCode.usage, cause: error });
  });
  if (top.isFile()) {
    const name = as ?? path.basename(root);
    return [
      {
        path: name,
        type: 'file',
        mode: bundleMode(top.mode, wantsExec(name, await head(root))),
        size: top.size,
        mtime: Math.floor(top.mtimeMs / 1000),
        source: root,
      },
    ];
  }
  if (!top.isDirectory()) throw invalid(root, 'is neither a directory nor a regular file');
  const entries: BundleEntry[] = [];
  const walk = async (dir: string, rel: string) => {
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      const full = path.join(dir, name);
      const relPath = rel ? `${rel}/${name}` : name;
      const st = await lstat(full);
      const mtime = Math.floor(st.mtimeMs / 1000);
      if (st.isDirectory()) {
        entries.push({ path: `${relPath}/`, type: 'dir', mode: st.mode & 0o777, size: 0, mtime });
        await walk(full, relPath);
      } else if (st.isFile()) {
        entries.push({ path: relPath, type: 'file', mode: bundleMode(st.mode, wantsExec(name, await head(full))), size: st.size, mtime, source: full });
      } else if (st.isSymbolicLink()) {
        const target = await readlink(full);
        checkLink(root, relPath, target);
        entries.push({ path: relPath, type: 'symlink', mode: 0o777, size: 0, mtime, linkname: target });
      } else {
        throw invalid(full, 'is a socket, fifo or device: only files, directories and links inside the bundle can be transferred');
      }
    }
  };
  await walk(root, '');
  return entries;
}

/** Refuses a link whose target is absolute or leaves the bundle. */
export function checkLink(root: string, relPath: string, target: string): void {
  if (path.posix.isAbsolute(target) || path.win32.isAbsolute(target)) {
    throw invalid(path.join(root, relPath), `is a symbolic link to the absolute path ${target}; only links inside the bundle are kept`);
  }
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(relPath), target));
  if (resolved === '..' || resolved.startsWith('../')) {
    throw invalid(path.join(root, relPath), `is a symbolic link to ${target}, outside the bundle; only links inside the bundle are kept`);
  }
}

/** Writes `entries` as one tar file at `out`; returns its size in bytes. */
export async function writeBundleTar(entries: readonly BundleEntry[], out: string, signal?: AbortSignal): Promise<number> {
  let bytes = 0;
  async function* chunks(): AsyncGenerator<Buffer> {
    for (const entry of entries) {
      const header = encodeHeader(entry);
      bytes += header.length;
      yield header;
      if (entry.type !== 'file' || !entry.source) continue;
      let seen = 0;
      for await (const chunk of createReadStream(entry.source)) {
        const buf = chunk as Buffer;
        seen += buf.length;
        if (seen > entry.size) break;
        bytes += buf.length;
        yield buf;
      }
      // The header already promised `size` bytes: a file that changed meanwhile would corrupt the stream.
      if (seen !== entry.size) throw invalid(entry.source, `changed while it was being bundled (${entry.size} bytes listed, ${seen} read)`);
      const pad = padding(entry.size);
      bytes += pad.length;
      yield pad;
    }
    const end = endOfArchive();
    bytes += end.length;
    yield end;
  }
  await pipeline(Readable.from(chunks()), createWriteStream(out, { mode: 0o600 }), { signal });
  return bytes;
}

async function head(file: string): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(2);
    const { bytesRead } = await handle.read(buf, 0, 2, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function invalid(file: string, what: string): IngotError {
  return new IngotError(ErrorCode.bundleInvalid, `bundle: ${file} ${what}`, {
    path: file,
    exitCode: ExitCode.usage,
    hint: "fix the bundle directory named in the profile's transfer step",
  });
}
