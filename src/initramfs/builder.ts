/**
 * The deterministic initramfs builder, as named steps:
 *
 *   collect   the optional tree, then the declared entries over it
 *   complete  missing parent directories (0755, root)
 *   order     byte order of paths
 *   layout    headers: inode numbers in order, link counts, one mtime
 *   write     newc stream → compressor → size limit
 *
 * Nothing in the output depends on the machine, the clock or the location of
 * the inputs: owners default to 0, mtimes come from SOURCE_DATE_EPOCH (else
 * 0), inodes are renumbered and gzip's header is pinned.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { pipeline, type Readable } from 'node:stream';
import { formatDigest, type Digest } from '../digest/digest.js';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { compressor, SizeLimitStream, type InitramfsCompression } from './compress.js';
import { archivePathProblem, comparePaths, DEFAULT_MODES, parentsOf, type ArchiveEntry, type EntryKind } from './entry.js';
import { MAX_U32 } from './header.js';
import { layoutArchive } from './layout.js';
import { collectTree, fileData, type TreeModes } from './tree.js';
import { archiveStream } from './writer.js';

/** A declared entry, with `source` already resolved to an absolute path. */
export type EntryInput = { path: string; uid?: number; gid?: number; mode?: number } & (
  | { type: 'file'; source?: string; content?: string }
  | { type: 'directory' }
  | { type: 'symlink'; target: string }
  | { type: 'char' | 'block'; major: number; minor: number }
  | { type: 'fifo' }
  | { type: 'hardlink'; target: string }
);

/** Everything a build depends on. */
export interface InitramfsBuildSpec {
  entries: readonly EntryInput[];
  /** Absolute path of a directory whose contents become the archive root. */
  tree?: string;
  /** Permission bits of the tree: "normalize" (default; 0755/0644 by the owner's x bit) or "preserve". */
  treeModes?: TreeModes;
  compression: InitramfsCompression;
  level?: number;
  /** Maximum compressed size in bytes. */
  sizeLimit: number;
  /** mtime of every entry, seconds since the epoch. */
  mtime: number;
  /** Used in messages, e.g. 'initramfs "busybox"'. */
  subject?: string;
}

/** The default cap on the compressed image, from the guest-init delivery spec. */
export const DEFAULT_SIZE_LIMIT = 20 * 2 ** 20;
/** Bumped whenever the archive layout changes, so fingerprints change with it. */
export const BUILDER_FORMAT = 'ingot-initramfs/1';

/** SOURCE_DATE_EPOCH as a 32-bit mtime, else 0. Throws a usage error on a malformed value. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv): number {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === '') return 0;
  if (!/^\d+$/.test(raw) || Number(raw) > MAX_U32) {
    throw new IngotError(ErrorCode.initramfsInput, `SOURCE_DATE_EPOCH must be whole seconds since 1970 that fit in 32 bits, got "${raw}"`, {
      exitCode: ExitCode.usage,
      hint: 'e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)',
    });
  }
  return Number(raw);
}

/** Steps collect → complete → order: the archive's entries, ready for layout. */
export async function resolveEntries(spec: InitramfsBuildSpec, signal?: AbortSignal): Promise<ArchiveEntry[]> {
  const byPath = new Map<string, ArchiveEntry>();
  const fromTree = new Set<string>();
  if (spec.tree) {
    for (const entry of await collectTree(spec.tree, { ...(signal ? { signal } : {}), modes: spec.treeModes ?? 'normalize' })) {
      byPath.set(entry.path, entry);
      fromTree.add(entry.path);
    }
  }
  const declared = new Map<string, number>();
  for (const [index, input] of spec.entries.entries()) {
    const where = `entries[${index}]`;
    const problem = archivePathProblem(input.path);
    if (problem) throw inputError(`${where}: path "${input.path}" ${problem}`, input.path);
    const first = declared.get(input.path);
    if (first !== undefined) throw inputError(`${where}: duplicate path "${input.path}" (first at entries[${first}])`, input.path);
    declared.set(input.path, index);
    const existing = byPath.get(input.path);
    if (existing && !(existing.kind === 'directory' && input.type === 'directory')) {
      throw inputError(
        `${where}: path "${input.path}" is also in the tree (${spec.tree}/${input.path}); an entry may only re-declare a tree directory`,
        input.path,
      );
    }
    byPath.set(input.path, await toEntry(input, where));
  }
  for (const entry of [...byPath.values()]) {
    for (const parent of parentsOf(entry.path)) {
      const existing = byPath.get(parent);
      if (!existing) byPath.set(parent, { kind: 'directory', path: parent, mode: DEFAULT_MODES.directory, uid: 0, gid: 0 });
      else if (existing.kind !== 'directory')
        throw inputError(`"${entry.path}" is inside "${parent}", which is a ${existing.kind}, not a directory`, entry.path);
    }
  }
  return [...byPath.values()].sort((a, b) => comparePaths(a.path, b.path));
}

async function toEntry(input: EntryInput, where: string): Promise<ArchiveEntry> {
  const kind: EntryKind = input.type;
  const common = { path: input.path, mode: input.mode ?? DEFAULT_MODES[kind], uid: input.uid ?? 0, gid: input.gid ?? 0 };
  switch (input.type) {
    case 'file': {
      if ((input.source === undefined) === (input.content === undefined)) {
        throw inputError(`${where}: a file entry needs exactly one of "source" or "content"`, input.path);
      }
      if (input.content !== undefined) {
        const bytes = Buffer.from(input.content, 'utf8');
        return { ...common, kind: 'file', data: { size: bytes.length, read: () => bytes, origin: `${where}.content` } };
      }
      const source = input.source!;
      const st = await fs.stat(source).catch((error: NodeJS.ErrnoException) => {
        throw inputError(
          `${where}: source file ${source} ${error.code === 'ENOENT' ? 'does not exist' : `cannot be read (${error.code ?? error.message})`}`,
          input.path,
          source,
        );
      });
      if (!st.isFile()) throw inputError(`${where}: source ${source} is not a regular file`, input.path, source);
      return { ...common, kind: 'file', data: fileData(source, st.size) };
    }
    case 'symlink':
    case 'hardlink':
      return { ...common, kind: input.type, target: input.target };
    case 'char':
    case 'block':
      return { ...common, kind: input.type, major: input.major, minor: input.minor };
    case 'directory':
    case 'fifo':
      return { ...common, kind: input.type };
  }
}

/** What a build yields: the compressed stream and facts about it. */
export interface BuiltInitramfs {
  stream: Readable;
  entries: number;
  compressor: string;
  /** Compressed bytes so far (final once the stream has ended). */
  size(): number;
}

/** Builds the compressed archive as a stream. Fails (as a stream error) past `sizeLimit`, saying the actual size. */
export async function buildInitramfs(spec: InitramfsBuildSpec, options: { signal?: AbortSignal; env?: NodeJS.ProcessEnv } = {}): Promise<BuiltInitramfs> {
  const compress = compressor(spec.compression, spec.level, options.env);
  const entries = await resolveEntries(spec, options.signal);
  const planned = layoutArchive(entries, { mtime: spec.mtime });
  const limit = new SizeLimitStream(spec.sizeLimit, spec.subject ?? 'the initramfs');
  const stages = [archiveStream(planned, options.signal ? { signal: options.signal } : {}), ...compress.create(), limit];
  // The callback form runs while the caller reads `limit` (the last stage); any failure destroys it with the error, so the caller sees it.
  pipeline(stages, () => undefined);
  return { stream: limit, entries: planned.length, compressor: compress.label, size: () => limit.bytes };
}

/**
 * A digest of everything the output depends on: the builder's format, the
 * compressor (with its library version), the mtime, the size limit, and each
 * entry's path, kind, mode, owner, target or device numbers and content hash.
 * Paths of the inputs on disk are not part of it: a copy of the tree elsewhere
 * fingerprints the same.
 */
export async function fingerprintInitramfs(spec: InitramfsBuildSpec, options: { signal?: AbortSignal; env?: NodeJS.ProcessEnv } = {}): Promise<Digest> {
  const compress = compressor(spec.compression, spec.level, options.env);
  const entries = await resolveEntries(spec, options.signal);
  const hash = createHash('sha256');
  hash.update(`${JSON.stringify({ format: BUILDER_FORMAT, compressor: compress.label, mtime: spec.mtime, sizeLimit: spec.sizeLimit })}\n`);
  for (const entry of entries) {
    options.signal?.throwIfAborted();
    const { path, kind, mode, uid, gid } = entry;
    let detail: unknown;
    if (entry.kind === 'file') detail = await contentHash(entry.data.read());
    else if (entry.kind === 'symlink' || entry.kind === 'hardlink') detail = entry.target;
    else if (entry.kind === 'char' || entry.kind === 'block') detail = [entry.major, entry.minor];
    hash.update(`${JSON.stringify([path, kind, mode, uid, gid, detail ?? null])}\n`);
  }
  return formatDigest('sha256', hash.digest('hex'));
}

async function contentHash(source: AsyncIterable<Buffer> | Promise<Buffer> | Buffer): Promise<string> {
  const hash = createHash('sha256');
  const resolved = await source;
  if (Buffer.isBuffer(resolved)) hash.update(resolved);
  else for await (const chunk of resolved) hash.update(chunk);
  return hash.digest('hex');
}

function inputError(message: string, archivePath: string, file?: string): IngotError {
  return new IngotError(ErrorCode.initramfsInput, message, {
    path: file ?? archivePath,
    exitCode: ExitCode.usage,
    hint: 'fix source.entries / source.tree of the initramfs in the manifest',
  });
}
