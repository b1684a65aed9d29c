/**
 * An initramfs written to a directory outside any store, as the guest-init
 * delivery spec names it: `initramfs-<name>-<version>-<build_id>.img` plus a
 * `.sha256` sidecar in sha256sum format. The image is written under a
 * temporary name and renamed, then the sidecar; a reader never sees half.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { formatDigest, type Digest } from '../digest/digest.js';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { buildInitramfs, type InitramfsBuildSpec } from './builder.js';

/** The artifact's file name: versioned when both version and build id are known. */
export function artifactName(name: string, version?: string, buildId?: string): string {
  for (const [label, value] of [['name', name], ['version', version], ['build id', buildId]] as const) {
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
  const temp = path.join(outDir, `.${fileName}.ingot-tmp-${process.pid}`);
  const built = await buildInitramfs(spec, options);
  const hash = createHash('sha256');
  const hasher = new Transform({
    transform(chunk: Buffer, _e, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  try {
    await pipeline(built.stream, hasher, createWriteStream(temp), options.signal ? { signal: options.signal } : {});
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  const sha256 = formatDigest('sha256', hash.digest('hex'));
  const sidecar = `${file}.sha256`;
  const sidecarTemp = `${temp}.sha256`;
  await fs.writeFile(sidecarTemp, `${sha256.slice('sha256:'.length)}  ${fileName}\n`);
  await fs.rename(sidecarTemp, sidecar);
  return { file, sidecar, sha256, size: built.size(), entries: built.entries, compressor: built.compressor };
}
