/**
 * NoCloud seed ISOs: ISO 9660 with Joliet and Rock Ridge, volume label
 * `cidata`, holding user-data, meta-data and optionally network-config.
 *
 * Built with xorriso, which (measured here) is byte-reproducible when
 * SOURCE_DATE_EPOCH is set and the files' mtimes are fixed; `-r` also
 * normalises owners and modes, so the same inputs give the same ISO on any
 * machine and as any user. A missing instance-id is derived from the content,
 * so a changed user-data is a new instance to cloud-init and an unchanged one
 * is not.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { run } from '../exec/run.js';
import { isRecord } from './profile.js';

/** The fixed time stamped on every file and the volume (1980-01-01, ISO 9660 friendly). */
export const SEED_EPOCH = 315532800;

/** The seed's contents. */
export interface SeedInput {
  userData: string | Buffer;
  metaData?: string | Buffer;
  networkConfig?: string | Buffer;
}

/** The xorriso argv that builds a seed from `dir` into `out` (for --dry-run). */
export function seedArgv(dir: string, out: string): string[] {
  return ['-as', 'mkisofs', '-quiet', '-V', 'cidata', '-J', '-r', '-o', out, dir];
}

/** meta-data with an instance-id: the given text, or one derived from the content. */
export function metaDataFor(input: SeedInput): string {
  const given = input.metaData?.toString();
  if (given !== undefined) {
    let parsed: unknown;
    try {
      parsed = parse(given);
    } catch (error) {
      throw new IngotError(ErrorCode.userDataInvalid, `meta-data is not YAML: ${(error as Error).message}`, { exitCode: ExitCode.usage });
    }
    if (isRecord(parsed) && typeof parsed['instance-id'] === 'string') return given;
    if (parsed !== null && parsed !== undefined && !isRecord(parsed)) {
      throw new IngotError(ErrorCode.userDataInvalid, 'meta-data must be a YAML mapping', { exitCode: ExitCode.usage });
    }
    return `instance-id: ${instanceId(input)}\n${given}`;
  }
  return `instance-id: ${instanceId(input)}\n`;
}

/** `iid-` + 16 hex digits of sha256 over user-data and network-config. */
export function instanceId(input: SeedInput): string {
  const hash = createHash('sha256').update(input.userData);
  if (input.networkConfig !== undefined) hash.update('\0network-config\0').update(input.networkConfig);
  return `iid-${hash.digest('hex').slice(0, 16)}`;
}

/** Writes the seed ISO to `out` (atomically); returns its sha256. */
export async function buildSeed(
  input: SeedInput,
  out: string,
  opts: { signal?: AbortSignal; xorriso?: string } = {},
): Promise<{ sha256: string; instanceId: string }> {
  const meta = metaDataFor(input);
  const dir = await mkdtemp(path.join(tmpdir(), 'ingot-seed-'));
  const tmpOut = `${out}.tmp-${process.pid}`;
  try {
    const root = path.join(dir, 'cidata');
    const files: [string, string | Buffer][] = [
      ['meta-data', meta],
      ['user-data', input.userData],
      ...(input.networkConfig !== undefined ? [['network-config', input.networkConfig] as [string, string | Buffer]] : []),
    ];
    await mkdir(root);
    for (const [name, content] of files) {
      const file = path.join(root, name);
      await writeFile(file, content);
      await chmod(file, 0o644);
      await utimes(file, SEED_EPOCH, SEED_EPOCH);
    }
    await utimes(root, SEED_EPOCH, SEED_EPOCH);
    await run(opts.xorriso ?? 'xorriso', seedArgv(root, tmpOut), {
      extraEnv: { SOURCE_DATE_EPOCH: String(SEED_EPOCH) },
      timeoutMs: 60_000,
      signal: opts.signal,
    }).catch((error: unknown) => {
      if (error instanceof IngotError && error.code === ErrorCode.toolMissing) {
        throw new IngotError(ErrorCode.toolMissing, 'xorriso is not installed', { hint: 'apt-get install xorriso', cause: error });
      }
      throw error;
    });
    await rename(tmpOut, out);
    const sha256 = createHash('sha256')
      .update(await readFile(out))
      .digest('hex');
    const id = /instance-id:\s*(\S+)/.exec(meta)?.[1] ?? '';
    return { sha256, instanceId: id };
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(tmpOut, { force: true });
  }
}
