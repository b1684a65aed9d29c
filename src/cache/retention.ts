/**
 * Retention: keep the newest N pulls of each family, and always whatever a
 * `current` link points at (even when that is older than N).
 */
import * as fs from 'node:fs/promises';
import type { Logger } from '../log/logger.js';
import { cacheFile, cachePaths, readLinks } from './layout.js';
import { familyEntries, saveState, type CacheEntry, type CacheState } from './state.js';

/** Versions kept per family unless --keep says otherwise (the reference's "last 3"). */
export const DEFAULT_KEEP = 3;

/** Which entries of a family to drop (pure). */
export function entriesToDrop(state: CacheState, family: string, keep: number, protectedFiles: ReadonlySet<string>): CacheEntry[] {
  return familyEntries(state, family)
    .slice(Math.max(1, keep))
    .filter((e) => !protectedFiles.has(e.file));
}

/** Applies retention to one family: state first, then the files (an orphan file is harmless, a dangling entry is not). */
export async function applyRetention(cacheDir: string, state: CacheState, family: string, keep: number, log: Logger): Promise<string[]> {
  const { root } = cachePaths(cacheDir);
  const protectedFiles = new Set((await readLinks(root)).values());
  const drop = entriesToDrop(state, family, keep, protectedFiles);
  if (drop.length === 0) return [];
  // Names came from state.json: each must be a plain file name inside the cache (else this throws, before any change).
  const files = drop.map((e) => cacheFile(root, e.file));
  const dropped = new Set(drop.map((e) => e.file));
  state.entries = state.entries.filter((e) => !dropped.has(e.file));
  await saveState(cacheDir, state);
  for (const [i, entry] of drop.entries()) {
    const file = files[i]!;
    await fs.rm(`${file}.sha256`, { force: true });
    await fs.rm(file, { force: true });
    log.info('removed old version from the cache', { file: entry.file, version: entry.version, family: family || undefined });
  }
  return [...dropped];
}
