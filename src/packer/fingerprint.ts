/**
 * Build fingerprints: what decides whether a packer build must run again.
 * The digest covers every file of the template directory (sorted, content
 * hashed, outputs and caches excluded), the variables and the packer version.
 * Sensitive variables contribute their names only: a fingerprint is stored in
 * metadata and must not let anyone test guesses of a password against it.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';

/** Top-level names never part of a template: packer's download cache and crash log. */
export const ALWAYS_EXCLUDED = ['packer_cache', 'crash.log'] as const;

/** Digest of a template directory's files. */
export interface TemplateDigest {
  digest: string;
  files: number;
}

/**
 * Hashes every regular file under `dir` except the top-level `exclude` names
 * (the artifact's output directory) and ALWAYS_EXCLUDED. Symlinks are hashed
 * by their target text, not followed, so a link cannot pull in outside files.
 */
export async function templateDigest(dir: string, exclude: readonly string[] = []): Promise<TemplateDigest> {
  const skip = new Set<string>([...ALWAYS_EXCLUDED, ...exclude]);
  const entries: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const names = (await fs.readdir(path.join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of names) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (!rel && (skip.has(entry.name) || entry.name.startsWith('.ingot-'))) continue;
      if (entry.isDirectory()) await walk(child);
      else if (entry.isSymbolicLink()) entries.push(`L ${child}\0${await fs.readlink(path.join(dir, child))}`);
      else if (entry.isFile()) entries.push(`F ${child}\0${await hashFile(path.join(dir, child))}`);
    }
  };
  await walk('');
  const total = createHash('sha256');
  for (const line of entries) total.update(`${line}\n`);
  return { digest: `sha256:${total.digest('hex')}`, files: entries.length };
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** Inputs of a build fingerprint. */
export interface FingerprintInput {
  templateDigest: string;
  packerVersion: string;
  variables: Readonly<Record<string, string>>;
  /** Names whose values are left out (see the module comment). */
  sensitive: ReadonlySet<string>;
  only?: readonly string[];
  artifact?: string;
}

/** "sha256:<hex>" over a canonical JSON of the inputs (sorted keys, sorted lists). */
export function buildFingerprint(input: FingerprintInput): string {
  const variables = Object.keys(input.variables)
    .sort()
    .map((name) => [name, input.sensitive.has(name) ? { sensitive: true } : input.variables[name]!]);
  const canonical = JSON.stringify({
    v: 1,
    template: input.templateDigest,
    packer: input.packerVersion,
    variables,
    only: [...(input.only ?? [])].sort(),
    artifact: input.artifact ?? null,
  });
  return `sha256:${createHash('sha256').update(canonical).digest('hex')}`;
}
