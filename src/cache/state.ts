/**
 * The cache's memory: which files it holds (and where from, when pulled),
 * and per store URL the highest index version and channel sequences it has
 * accepted — the floor below which a served index is a rollback.
 */
import * as fs from 'node:fs/promises';
import type { Digest } from '../digest/digest.js';
import { ErrorCode, IngotError } from '../errors.js';
import { cachePaths, writeFileAtomic } from './layout.js';

/** A file held in the cache. */
export interface CacheEntry {
  file: string;
  /** "" when the image has no family (link `current`). */
  family: string;
  name: string;
  /** Image path in the store. */
  path: string;
  version?: string;
  sha256: Digest;
  checksum: Digest;
  size: number;
  /** RFC 3339; orders versions for rollback and retention. */
  pulledAt: string;
  store: string;
  compatibility?: Record<string, unknown>;
}

/** What a cache remembers about one store. */
export interface StoreRecord {
  indexVersion: number;
  acceptedAt: string;
  /** family → highest channel-file sequence accepted. */
  channels: Record<string, number>;
}

/** The whole state file. */
export interface CacheState {
  schemaVersion: 1;
  stores: Record<string, StoreRecord>;
  entries: CacheEntry[];
}

/** Loads the state file (an empty state for a new cache). */
export async function loadState(cacheDir: string): Promise<CacheState> {
  const { stateFile } = cachePaths(cacheDir);
  let text: string;
  try {
    text = await fs.readFile(stateFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { schemaVersion: 1, stores: {}, entries: [] };
    throw error;
  }
  try {
    const data = JSON.parse(text) as CacheState;
    if (data.schemaVersion !== 1 || !Array.isArray(data.entries) || typeof data.stores !== 'object') throw new Error('unexpected shape');
    return data;
  } catch (error) {
    throw new IngotError(ErrorCode.cacheNotFound, `cache state is damaged: ${stateFile}: ${(error as Error).message}`, {
      path: stateFile,
      hint: 'move the file away: the next pull re-downloads what it needs (rollback protection restarts from that index)',
    });
  }
}

/** Saves the state atomically. */
export async function saveState(cacheDir: string, state: CacheState): Promise<void> {
  await writeFileAtomic(cachePaths(cacheDir).stateFile, `${JSON.stringify(state, null, 2)}\n`);
}

/** Entries of one family, newest pull first. */
export function familyEntries(state: CacheState, family: string): CacheEntry[] {
  return state.entries.filter((e) => e.family === family).sort((a, b) => (a.pulledAt < b.pulledAt ? 1 : a.pulledAt > b.pulledAt ? -1 : 0));
}
