/**
 * What goes into an archive, before it is laid out: one entry per path, with
 * permission bits (no file type bits), owner and, for files, where the bytes
 * come from. Hard links name the file entry they share an inode with.
 */

/** File bytes, read lazily when the writer reaches the entry. */
export interface DataSource {
  /** Exact size; the writer fails if the bytes read differ (a file changed mid-build). */
  size: number;
  read(): AsyncIterable<Buffer> | Promise<Buffer> | Buffer;
  /** Where the bytes come from, for messages. */
  origin?: string;
}

interface Common {
  /** Relative, normalised path inside the archive ("bin/busybox"). */
  path: string;
  /** Permission bits only (0…0o7777). Ignored for hard links (they share the target's inode). */
  mode: number;
  uid: number;
  gid: number;
}

/** One archive member, discriminated on `kind`. */
export type ArchiveEntry =
  | (Common & { kind: 'file'; data: DataSource })
  | (Common & { kind: 'directory' })
  | (Common & { kind: 'symlink'; target: string })
  | (Common & { kind: 'char' | 'block'; major: number; minor: number })
  | (Common & { kind: 'fifo' })
  | (Common & { kind: 'hardlink'; target: string });

export type EntryKind = ArchiveEntry['kind'];

/** Default permission bits per kind, as mkdir/touch/mknod with umask 022 would give. */
export const DEFAULT_MODES = {
  file: 0o644,
  directory: 0o755,
  symlink: 0o777,
  char: 0o600,
  block: 0o600,
  fifo: 0o644,
  hardlink: 0o644,
} as const satisfies Record<EntryKind, number>;

/** Why `value` is not a safe path inside an archive, or undefined when it is. */
export function archivePathProblem(value: string): string | undefined {
  if (value.length === 0) return 'is empty';
  if (value.includes('\0')) return 'contains a NUL byte';
  if (value.startsWith('/')) return `is absolute; write "${value.replace(/^\/+/, '') || '…'}" (paths are relative to the archive root)`;
  const segments = value.split('/');
  if (segments.includes('..')) return 'escapes the archive (".." segment)';
  if (segments.includes('.')) return 'is not normalised ("." segment)';
  if (segments.includes('')) return 'is not normalised (empty segment: "//" or a trailing "/")';
  return undefined;
}

/** Byte-wise order of UTF-8 paths: the same on every machine and locale (like `LC_ALL=C sort`). */
export function comparePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Parent directories of `path`, outermost first ("a/b/c" → ["a", "a/b"]). */
export function parentsOf(path: string): string[] {
  const parts = path.split('/');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}
