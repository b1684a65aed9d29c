/**
 * Lays entries out as cpio headers, without touching any bytes: inode numbers
 * in archive order from 1, link counts (a directory has 2 + its
 * subdirectories; a hard-link group has its member count), one mtime for all,
 * device numbers of the archive's own "filesystem" zero.
 *
 * Hard links follow GNU cpio's newc convention, which the kernel and
 * `cpio -i` both understand: every member carries the group's inode and link
 * count, and only the last member in archive order carries the data (the
 * others have size 0).
 */
import { ErrorCode, IngotError } from '../errors.js';
import { archivePathProblem, parentsOf, type ArchiveEntry, type DataSource } from './entry.js';
import { FileType, type CpioHeader } from './header.js';

/** A header ready to encode, plus the data that follows it (if any). */
export interface PlannedEntry {
  header: CpioHeader;
  data?: DataSource;
}

export interface LayoutOptions {
  /** Seconds since the epoch for every entry (SOURCE_DATE_EPOCH, else 0). */
  mtime: number;
}

/** Turns entries (already in archive order) into headers. Throws INGOT_INITRAMFS_INPUT on duplicates or dangling links. */
export function layoutArchive(entries: readonly ArchiveEntry[], options: LayoutOptions): PlannedEntry[] {
  const byPath = new Map<string, ArchiveEntry>();
  for (const entry of entries) {
    const problem = archivePathProblem(entry.path);
    if (problem) throw inputError(`archive path "${entry.path}" ${problem}`, entry.path);
    if (byPath.has(entry.path)) throw inputError(`duplicate archive path "${entry.path}"`, entry.path);
    byPath.set(entry.path, entry);
  }

  // Hard-link groups: the target file plus every link to it.
  const groups = new Map<string, string[]>();
  for (const entry of entries) {
    if (entry.kind !== 'hardlink') continue;
    const target = byPath.get(entry.target);
    if (target?.kind !== 'file') {
      throw inputError(
        `hard link "${entry.path}" points at "${entry.target}", which is ${target ? `a ${target.kind}, not a regular file` : 'not in the archive'}`,
        entry.path,
      );
    }
    groups.set(entry.target, [...(groups.get(entry.target) ?? [entry.target]), entry.path]);
  }
  const groupOf = (entry: ArchiveEntry): string | undefined => (entry.kind === 'hardlink' ? entry.target : groups.has(entry.path) ? entry.path : undefined);
  const lastMember = new Map<string, string>();
  for (const entry of entries) {
    const group = groupOf(entry);
    if (group) lastMember.set(group, entry.path);
  }

  const subdirs = new Map<string, number>();
  for (const entry of entries) {
    if (entry.kind !== 'directory') continue;
    const parent = parentsOf(entry.path).pop();
    if (parent !== undefined) subdirs.set(parent, (subdirs.get(parent) ?? 0) + 1);
  }

  let nextIno = 1;
  const groupIno = new Map<string, number>();
  return entries.map((entry): PlannedEntry => {
    const group = groupOf(entry);
    let ino: number;
    if (group) {
      ino = groupIno.get(group) ?? nextIno++;
      groupIno.set(group, ino);
    } else {
      ino = nextIno++;
    }
    const base = {
      ino,
      uid: entry.uid,
      gid: entry.gid,
      mtime: options.mtime,
      devMajor: 0,
      devMinor: 0,
      rdevMajor: 0,
      rdevMinor: 0,
      check: 0,
      name: entry.path,
    };
    checkMode(entry);
    switch (entry.kind) {
      case 'directory':
        return { header: { ...base, mode: FileType.directory | entry.mode, nlink: 2 + (subdirs.get(entry.path) ?? 0), fileSize: 0 } };
      case 'symlink': {
        const target = Buffer.from(entry.target, 'utf8');
        if (target.length === 0 || entry.target.includes('\0')) throw inputError(`symlink "${entry.path}" has an empty or invalid target`, entry.path);
        return {
          header: { ...base, mode: FileType.symlink | entry.mode, nlink: 1, fileSize: target.length },
          data: { size: target.length, read: () => target, origin: `symlink ${entry.path}` },
        };
      }
      case 'char':
      case 'block':
        return { header: { ...base, mode: FileType[entry.kind] | entry.mode, nlink: 1, fileSize: 0, rdevMajor: entry.major, rdevMinor: entry.minor } };
      case 'fifo':
        return { header: { ...base, mode: FileType.fifo | entry.mode, nlink: 1, fileSize: 0 } };
      case 'file':
      case 'hardlink': {
        const file = (entry.kind === 'file' ? entry : byPath.get(entry.target)) as Extract<ArchiveEntry, { kind: 'file' }>;
        const members = group ? groups.get(group)!.length : 1;
        const carriesData = !group || lastMember.get(group) === entry.path;
        return {
          header: { ...base, uid: file.uid, gid: file.gid, mode: FileType.file | file.mode, nlink: members, fileSize: carriesData ? file.data.size : 0 },
          ...(carriesData ? { data: file.data } : {}),
        };
      }
      default:
        throw inputError(`"${(entry as ArchiveEntry).path}" has an unknown kind`, (entry as ArchiveEntry).path);
    }
  });
}

function checkMode(entry: ArchiveEntry): void {
  if (!Number.isInteger(entry.mode) || entry.mode < 0 || entry.mode > 0o7777) {
    throw inputError(`mode of "${entry.path}" is ${entry.mode.toString(8)}; expected permission bits 0…7777 (octal)`, entry.path);
  }
}

function inputError(message: string, path: string): IngotError {
  return new IngotError(ErrorCode.initramfsInput, message, { path, hint: 'fix the initramfs entries in the manifest (or the files in its tree)' });
}
