/**
 * An initramfs written to a directory outside any store, as the guest-init
 * delivery spec names it: `initramfs-<name>-<version>-<build_id>.img` plus a
 * `.sha256` sidecar in sha256sum format. The image is written under a
 * temporary name and renamed, then the sidecar; a reader never sees half.
 */
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../digest/digest.js';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { buildInitramfs, type InitramfsBuildSpec } from './builder.js';
import { HashingStream } from '../digest/hashing.js';
import { syncDir, tempNameFor, writeFileAtomic } from '../util/fs-atomic.js';

/** The artifact's file name: versioned when both version and build id are known. */
export function artifactName(name: string, version?: string, buildId?: string): string {
  for (const [label, value] of [
    ['name', name],
    ['version', version],
    ['build id', buildId],
  ] as const) {
    if (value !== undefined && !/^[A-Za-z0-9._+~-]+$/.test(value)) {
      throw new IngotError(ErrorCode.initramfsInput, `the initramfs ${label} "${value}" cannot be part of a file name`, {
        exitCode: ExitCode.usage,
        hint: 'use letters, digits and . _ + ~ - only',
      });
    }
  }
  return version && buildId ? `initramfs-${name}-${version}-${buildId}.img` : `${name}.img`;
}

/** What was written. */
export interface WrittenArtifact {
  file: string;
  sidecar: string;
  sha256: Digest;
  size: number;
  entries: number;
  compressor: string;
}

/** Builds `spec` into `outDir/fileName` with its sidecar. */
export async function writeInitramfsArtifact(
  spec: InitramfsBuildSpec,
  outDir: string,
  fileName: string,
  options: { signal?: AbortSignal; env?: NodeJS.ProcessEnv } = {},
): Promise<WrittenArtifact> {
  await fs.mkdir(outDir, { recursive: true });
  const file = path.join(outDir, fileName);
  const sidecar = `${file}.sha256`;
  const temp = tempNameFor(file);
  const built = await buildInitramfs(spec, options);
  const hash = new HashingStream(['sha256']);
  try {
    await pipeline(
      built.stream,
      hash,
      createWriteStream(temp, { flags: 'wx', mode: 0o644, highWaterMark: 1 << 20 }),
      options.signal ? { signal: options.signal } : {},
    );
    const handle = await fs.open(temp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    // The old sidecar goes first: a kill between the two renames leaves an image
    // without a sidecar (rebuilt next time), never one with a stale sidecar.
    await fs.rm(sidecar, { force: true });
    await fs.rename(temp, file);
    await syncDir(outDir);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  const sha256 = hash.digest('sha256');
  await writeFileAtomic(sidecar, `${sha256.slice('sha256:'.length)}  ${fileName}\n`);
  return { file, sidecar, sha256, size: built.size(), entries: built.entries, compressor: built.compressor };
}
