/**
 * The `initramfs` source: an image built, not downloaded — a reproducible
 * cpio newc archive from declared entries and an optional directory tree.
 * It has no declared checksum; `fingerprint()` digests the inputs so an
 * unchanged build is skipped, and `open()` streams the built bytes.
 */
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { formatPath, ProblemCode } from '../manifest/problems.js';
import type { RuleContext } from '../manifest/rule-context.js';
import { relativePathProblem } from '../store/keys.js';
import { parseSize } from '../transform/decompress.js';
import { buildInitramfs, DEFAULT_SIZE_LIMIT, fingerprintInitramfs, sourceDateEpoch, type EntryInput, type InitramfsBuildSpec } from '../initramfs/builder.js';
import { INITRAMFS_COMPRESSIONS, LEVELS } from '../initramfs/compress.js';
import { archivePathProblem } from '../initramfs/entry.js';
import type { AcquireContext, BaseSource, SourceDriver } from './source.js';
import { resolveInside } from './file.js';

const mode = z
  .string()
  .regex(/^0?[0-7]{3,4}$/, 'expected octal permission bits as a quoted string, such as "0755"')
  .describe('Permission bits in octal, quoted: "0755". (An unquoted 0755 is the decimal number 755 in YAML.)');
const id = z.number().int().min(0).max(0xffff_ffff);
const owner = {
  uid: id.optional().describe('Owner uid. Default 0.'),
  gid: id.optional().describe('Group gid. Default 0.'),
};
const entryPath = z.string().min(1).describe('Path inside the archive, relative: "init", "bin/busybox".');
const devNumber = z.number().int().min(0).max(0xffff_ffff);

const entrySchema = z.discriminatedUnion('type', [
  z
    .strictObject({
      type: z.literal('file'),
      path: entryPath,
      source: z.string().optional().describe("A file relative to spec.root (default: the manifest's directory)."),
      content: z.string().optional().describe('Inline content (UTF-8). Give either source or content.'),
      mode: mode.optional().describe('Default "0644".'),
      ...owner,
    })
    .describe('A regular file.'),
  z.strictObject({ type: z.literal('directory'), path: entryPath, mode: mode.optional().describe('Default "0755".'), ...owner }).describe('A directory.'),
  z
    .strictObject({ type: z.literal('symlink'), path: entryPath, target: z.string().min(1).describe('Link target, as written.'), ...owner })
    .describe('A symbolic link.'),
  z
    .strictObject({ type: z.literal('hardlink'), path: entryPath, target: entryPath.describe('Archive path of the regular file to link to.') })
    .describe('A hard link to a file entry.'),
  ...(['char', 'block'] as const).map((type) =>
    z
      .strictObject({ type: z.literal(type), path: entryPath, major: devNumber, minor: devNumber, mode: mode.optional().describe('Default "0600".'), ...owner })
      .describe(`A ${type} device node.`),
  ),
  z.strictObject({ type: z.literal('fifo'), path: entryPath, mode: mode.optional().describe('Default "0644".'), ...owner }).describe('A named pipe.'),
]);

export const initramfsSourceSchema = z
  .strictObject({
    type: z.literal('initramfs').describe('A reproducible initramfs (cpio newc) built by ingot.'),
    entries: z.array(entrySchema).optional().describe('Files, directories, links, device nodes and fifos, in any order (the archive is sorted).'),
    tree: z.string().optional().describe("A directory, relative to spec.root (default: the manifest's directory), whose contents become the archive root."),
    treeModes: z
      .enum(['normalize', 'preserve'])
      .optional()
      .describe(
        'Permission bits of the tree: normalize (default: 0755 if the owner may execute, else 0644, like Git; the same on every checkout) or preserve (as on disk).',
      ),
    compression: z.enum(INITRAMFS_COMPRESSIONS).optional().describe('gzip (default), zstd, xz or none.'),
    level: z.number().int().min(0).max(19).optional().describe('Compression level: gzip 1–9 (default 6), zstd 1–19 (default 19), xz 0–9 (default 6).'),
    sizeLimit: z.union([z.number().int().positive(), z.string()]).optional().describe('Maximum compressed size (bytes or "20MiB"). Default 20MiB.'),
    version: z.string().min(1).optional().describe('Version of what the initramfs carries (e.g. the guest init), for the artifact name.'),
    buildId: z.string().min(1).optional().describe('Build id (e.g. "20251217a"), for the artifact name.'),
  })
  .describe('An initramfs built from entries and an optional tree.');

export type InitramfsSource = z.infer<typeof initramfsSourceSchema> & BaseSource;
type RawEntry = NonNullable<InitramfsSource['entries']>[number];

/** The build spec of a source, with relative paths resolved against spec.root (refusing any that leave it). */
export function initramfsSpec(source: InitramfsSource, root: string, env: NodeJS.ProcessEnv, subject?: string): InitramfsBuildSpec {
  const entries = (source.entries ?? []).map((entry): EntryInput => {
    const modeBits = 'mode' in entry && entry.mode !== undefined ? parseInt(entry.mode, 8) : undefined;
    const base = { ...entry, ...(modeBits === undefined ? {} : { mode: modeBits }) } as EntryInput;
    if (entry.type === 'file' && entry.source !== undefined) return { ...base, source: resolveInside(root, entry.source) } as EntryInput;
    return base;
  });
  const compression = source.compression ?? 'gzip';
  return {
    entries,
    ...(source.tree ? { tree: resolveTree(root, source.tree) } : {}),
    ...(source.treeModes ? { treeModes: source.treeModes } : {}),
    compression,
    ...(source.level === undefined ? {} : { level: source.level }),
    sizeLimit: source.sizeLimit === undefined ? DEFAULT_SIZE_LIMIT : (parseSize(source.sizeLimit) ?? DEFAULT_SIZE_LIMIT),
    mtime: sourceDateEpoch(env),
    ...(subject ? { subject } : {}),
  };
}

function resolveTree(root: string, tree: string): string {
  const cleaned = tree.replace(/\/+$/, '');
  return cleaned === '.' ? path.resolve(root) : resolveInside(root, cleaned);
}

export const initramfsDriver: SourceDriver<InitramfsSource> = {
  types: ['initramfs'],
  schema: initramfsSourceSchema as z.ZodType<InitramfsSource>,

  rules(source, ctx) {
    checkEntries(source.entries ?? [], source.tree !== undefined, ctx);
    if (source.tree !== undefined) checkLocalPath(source.tree.replace(/\/+$/, '') || '.', ['tree'], 'directory', ctx);
    if (!source.tree && (source.entries ?? []).length === 0) {
      ctx.report({
        code: ProblemCode.missingField,
        message: 'an initramfs needs entries, a tree, or both',
        hint: 'add entries: [{ type: file, path: init, source: … }]',
      });
    }
    if (source.sizeLimit !== undefined && parseSize(source.sizeLimit) === undefined) {
      ctx.report({ code: ProblemCode.sizeMalformed, at: ['sizeLimit'], message: `expected a size such as "20MiB", got "${source.sizeLimit}"` });
    }
    const compression = source.compression ?? 'gzip';
    const range = LEVELS[compression];
    if (source.level !== undefined && (compression === 'none' || source.level < range.min || source.level > range.max)) {
      ctx.report({
        code: ProblemCode.schema,
        at: ['level'],
        message:
          compression === 'none'
            ? 'level has no meaning with compression: none'
            : `${compression} level must be ${range.min}–${range.max}, got ${source.level}`,
      });
    }
  },

  describe(source) {
    return {
      type: 'initramfs',
      compression: source.compression ?? 'gzip',
      entries: source.entries?.length ?? 0,
      ...(source.tree ? { tree: source.tree } : {}),
      ...(source.version ? { version: source.version } : {}),
      ...(source.buildId ? { buildId: source.buildId } : {}),
    };
  },

  async fingerprint(source, ctx) {
    const spec = initramfsSpec(source, ctx.root, ctx.env, `initramfs "${ctx.image}"`);
    const value = await fingerprintInitramfs(spec, { signal: ctx.signal, env: ctx.env });
    return { value, facts: { mtime: spec.mtime, sizeLimit: spec.sizeLimit } };
  },

  async open(source, ctx: AcquireContext) {
    const spec = initramfsSpec(source, ctx.root, ctx.env, `initramfs "${ctx.image}"`);
    const built = await buildInitramfs(spec, { signal: ctx.signal, env: ctx.env });
    ctx.log.debug('building initramfs', { image: ctx.image, entries: built.entries, compressor: built.compressor });
    return { stream: built.stream, facts: { ...this.describe(source), compressor: built.compressor, mtime: spec.mtime } };
  },
};

function checkEntries(entries: readonly RawEntry[], hasTree: boolean, ctx: RuleContext): void {
  const seen = new Map<string, number>();
  const files = new Set(entries.filter((e) => e.type === 'file').map((e) => e.path));
  entries.forEach((entry, i) => {
    const at = ['entries', i];
    const problem = archivePathProblem(entry.path);
    if (problem) {
      ctx.report({
        code: ProblemCode.unsafePath,
        at: [...at, 'path'],
        message: `entries[${i}].path "${entry.path}" ${problem}`,
        hint: 'archive paths are relative to the archive root: "init", "bin/busybox"',
      });
    }
    const first = seen.get(entry.path);
    if (first !== undefined) {
      ctx.report({
        code: 'duplicate-entry',
        at: [...at, 'path'],
        message: `duplicate initramfs path "${entry.path}" (first at entries[${first}])`,
        hint: 'each path may appear once',
      });
    } else {
      seen.set(entry.path, i);
    }
    if (entry.type === 'file') {
      if ((entry.source === undefined) === (entry.content === undefined)) {
        ctx.report({ code: ProblemCode.missingField, at, message: `entries[${i}] ("${entry.path}") needs exactly one of "source" or "content"` });
      }
      if (entry.source !== undefined) checkLocalPath(entry.source, [...at, 'source'], 'file', ctx);
    }
    // With a tree, the target may be one of its files; the build checks that.
    if (entry.type === 'hardlink' && !hasTree && !files.has(entry.target)) {
      ctx.report({
        code: ProblemCode.schema,
        at: [...at, 'target'],
        message: `hard link "${entry.path}" points at "${entry.target}", which is not a file entry`,
        hint: 'hard links may only point at entries of type file',
      });
    }
  });
}

function checkLocalPath(value: string, at: (string | number)[], kind: 'file' | 'directory', ctx: RuleContext): void {
  const problem = value === '.' && kind === 'directory' ? undefined : relativePathProblem(value);
  if (problem) {
    ctx.report({
      code: ProblemCode.unsafePath,
      at,
      message: `${formatPath(at)} "${value}" ${problem}`,
      hint: "give a path relative to spec.root (default: the manifest's directory), inside it",
    });
    return;
  }
  const full = path.resolve(ctx.root, value);
  if (!existsSync(full)) {
    ctx.report({
      code: ProblemCode.sourceMissing,
      at,
      message: `${kind} "${value}" does not exist (looked for ${full})`,
      hint: "paths are relative to spec.root (default: the manifest's directory)",
    });
    return;
  }
  const isDir = statSync(full).isDirectory();
  if (isDir !== (kind === 'directory'))
    ctx.report({ code: ProblemCode.sourceMissing, at, message: `"${value}" is ${isDir ? 'a directory' : 'not a directory'}; expected a ${kind}` });
}
