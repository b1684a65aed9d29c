/** The `file` source: a local file beside the manifest, hashed and verified like a download. */
import { constants as fsc, createReadStream, realpathSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import { ErrorCode, IngotError } from '../errors.js';
import { ProblemCode } from '../manifest/problems.js';
import { relativePathProblem } from '../store/keys.js';
import { COMPRESSIONS } from '../transform/decompress.js';
import type { BaseSource, SourceDriver } from './source.js';

export const fileSourceSchema = z
  .strictObject({
    type: z.literal('file').describe('A local file.'),
    path: z.string().describe("Path relative to spec.root (default: the manifest's directory); it may not leave it."),
    checksum: z.string().optional().describe('Digest of the file, "sha256:<hex>" or "sha512:<hex>". Required.'),
    decompress: z.enum(COMPRESSIONS).optional().describe('Decompress the file: xz, gzip or zstd. Requires validation.expected.'),
    maxDecompressedSize: z.union([z.number().int().positive(), z.string()]).optional().describe('Cap on the decompressed size.'),
  })
  .describe('An image from a local file.');

export type FileSource = z.infer<typeof fileSourceSchema> & BaseSource;

/**
 * Resolves a path relative to `baseDir` (spec.root, or a packer template
 * directory), refusing anything that leaves it: by its spelling ("..",
 * absolute) and, when it exists, through a symbolic link.
 */
export function resolveInside(baseDir: string, relative: string): string {
  const problem = relativePathProblem(relative);
  const full = path.resolve(baseDir, relative);
  if (problem || !full.startsWith(path.resolve(baseDir) + path.sep)) {
    throw new IngotError(ErrorCode.manifestInvalid, `path "${relative}" ${problem ?? 'leaves its root directory'}`, {
      path: relative,
      hint: "use a path relative to spec.root (default: the manifest's directory), without .. segments",
    });
  }
  assertRealInside(baseDir, full, relative);
  return full;
}

/** Refuses `full` when it exists and its real path (symbolic links followed) is outside `baseDir`'s. */
export function assertRealInside(baseDir: string, full: string, shown: string): void {
  let real: string;
  try {
    real = realpathSync(full);
  } catch {
    return; // does not exist (yet): opening it reports that
  }
  const realBase = realpathSync(baseDir);
  if (real !== realBase && !real.startsWith(realBase + path.sep)) {
    throw new IngotError(ErrorCode.manifestInvalid, `path "${shown}" leads outside its root directory through a symbolic link (to ${real})`, {
      path: full,
      hint: `keep sources inside ${realBase}; copy the file in instead of linking to it`,
    });
  }
}

export const fileDriver: SourceDriver<FileSource> = {
  types: ['file'],
  schema: fileSourceSchema as z.ZodType<FileSource>,

  rules(source, ctx) {
    const problem = relativePathProblem(source.path);
    if (problem) {
      ctx.report({
        code: ProblemCode.unsafePath,
        at: ['path'],
        message: `source path ${problem}`,
        hint: "give a path relative to spec.root (default: the manifest's directory), inside it",
      });
    }
  },

  describe(source) {
    return { type: 'file', path: source.path, ...(source.decompress ? { decompress: source.decompress } : {}) };
  },

  async open(source, ctx) {
    const file = resolveInside(ctx.root, source.path);
    // O_NONBLOCK: opening a FIFO with no writer would block (uncancellably, in a libuv thread) forever.
    const handle = await fs.open(file, fsc.O_RDONLY | fsc.O_NONBLOCK).catch((error: NodeJS.ErrnoException) => {
      throw new IngotError(ErrorCode.sourceNotFound, `cannot open source file ${source.path}: ${error.code ?? error.message}`, {
        path: file,
        image: ctx.image,
        hint: "check source.path; it is relative to spec.root (default: the manifest's directory)",
        cause: error,
      });
    });
    const stat = await handle.stat();
    if (!stat.isFile()) {
      await handle.close();
      // A FIFO may never end or never start; a device (/dev/zero) never ends.
      throw new IngotError(ErrorCode.sourceNotFound, `source file ${source.path} is not a regular file`, {
        path: file,
        image: ctx.image,
        hint: 'a file source must be a regular file (not a FIFO, device or directory)',
      });
    }
    const { size } = stat;
    const stream = createReadStream('', { fd: handle, highWaterMark: 1 << 20, signal: ctx.signal });
    return { stream, size, facts: this.describe(source) };
  },
};
