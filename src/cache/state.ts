/**
 * The cache's memory: which files it holds (and where from, when pulled),
 * and per signed catalogue the highest index version and channel sequences
 * it has accepted — the floor below which a served index is a rollback.
 *
 * A catalogue is named by what signs it, not by how its store was reached:
 * "<signing key id>/<storeId>" (the storeId is a random id carried inside the
 * signed index), so the same store through a symlinked path, another
 * spelling of its URL or a mirror shares one floor. Caches written before
 * catalogue identities keep their per-URL records in `stores`; they seed the
 * identity's floor the first time (migration), and still guard indexes
 * signed before storeIds existed.
 *
 * The file is input like any other: every name in it is checked (a plain
 * file name inside the cache, a valid family) before anything uses it.
 */
import * as fs from 'node:fs/promises';
import { digestProblem, type Digest } from '../digest/digest.js';
import { ErrorCode, IngotError } from '../errors.js';
import { cacheFileProblem, cachePaths, cacheUnsafe, requireRegularOrAbsent, writeFileAtomic } from './layout.js';

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
  /** Per store URL as displayed: caches from before catalogue identities, and indexes without a storeId. */
  stores: Record<string, StoreRecord>;
  /** Per signed catalogue, "<key id>/<storeId>" (see `catalogueId`). */
  catalogues?: Record<string, StoreRecord>;
  entries: CacheEntry[];
}

/** The identity of a signed catalogue: the key that signs it and the store id inside it. */
export function catalogueId(keyId: string, storeId: string): string {
  return `${keyId}/${storeId}`;
}

/** Loads the state file (an empty state for a new cache). */
export async function loadState(cacheDir: string): Promise<CacheState> {
  const { stateDir, stateFile } = cachePaths(cacheDir);
  const dir = await fs.lstat(stateDir).catch(() => undefined);
  if (dir && (dir.isSymbolicLink() || !dir.isDirectory())) throw cacheUnsafe(`refusing to use ${stateDir}: it is not a real directory`, stateDir);
  await requireRegularOrAbsent(stateFile);
  let text: string;
  try {
    text = await fs.readFile(stateFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { schemaVersion: 1, stores: {}, entries: [] };
    throw error;
  }
  let data: CacheState;
  try {
    data = JSON.parse(text) as CacheState;
    const problem = stateShapeProblem(data);
    if (problem) throw new Error(problem);
  } catch (error) {
    throw new IngotError(ErrorCode.cacheNotFound, `cache state is damaged: ${stateFile}: ${(error as Error).message}`, {
      path: stateFile,
      hint: 'move the file away: the next pull re-downloads what it needs (rollback protection restarts from that index)',
    });
  }
  // Names are what a forged state would use to reach outside the cache.
  data.entries.forEach((entry, i) => {
    const problem = entryNameProblem(entry);
    if (problem) {
      throw cacheUnsafe(
        `cache state entries[${i}] ${problem}`,
        stateFile,
        'the state file was edited by something other than ingot; move it away (the next pull re-downloads what it needs) and check the cache directory',
      );
    }
  });
  return data;
}

const FAMILY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Why an entry's names (file, family) cannot be used, or undefined. */
export function entryNameProblem(entry: CacheEntry): string | undefined {
  const fileProblem = typeof entry.file === 'string' ? cacheFileProblem(entry.file) : 'is not a string';
  if (fileProblem) return `names file ${JSON.stringify(entry.file)}: ${fileProblem}`;
  if (typeof entry.family !== 'string' || (entry.family !== '' && !FAMILY.test(entry.family))) {
    return `names family ${JSON.stringify(entry.family)}: expected letters, digits, ".", "_" or "-" (max 64)`;
  }
  return undefined;
}

function stateShapeProblem(data: CacheState): string | undefined {
  if (typeof data !== 'object' || data === null || data.schemaVersion !== 1 || !Array.isArray(data.entries)) return 'unexpected shape';
  for (const [field, records] of [
    ['stores', data.stores],
    ['catalogues', data.catalogues ?? {}],
  ] as const) {
    if (typeof records !== 'object' || records === null || Array.isArray(records)) return `"${field}" is not an object`;
    for (const [name, r] of Object.entries(records)) {
      if (typeof r !== 'object' || r === null || !Number.isSafeInteger(r.indexVersion) || r.indexVersion < 0)
        return `${field}["${name}"].indexVersion is not a count`;
      if (typeof r.channels !== 'object' || r.channels === null || Object.values(r.channels).some((n) => !Number.isSafeInteger(n)))
        return `${field}["${name}"].channels is malformed`;
    }
  }
  for (const [i, e] of data.entries.entries()) {
    if (typeof e !== 'object' || e === null) return `entries[${i}] is not an object`;
    if (typeof e.sha256 !== 'string' || digestProblem(e.sha256) || !e.sha256.startsWith('sha256:')) return `entries[${i}].sha256 is not a sha256 digest`;
    if (!Number.isSafeInteger(e.size) || e.size < 0) return `entries[${i}].size is not a size`;
    if (typeof e.pulledAt !== 'string') return `entries[${i}].pulledAt is not a time`;
  }
  return undefined;
}

/** Saves the state atomically. */
export async function saveState(cacheDir: string, state: CacheState): Promise<void> {
  await requireRegularOrAbsent(cachePaths(cacheDir).stateFile);
  await writeFileAtomic(cachePaths(cacheDir).stateFile, `${JSON.stringify(state, null, 2)}\n`);
}

/** Entries of one family, newest pull first. */
export function familyEntries(state: CacheState, family: string): CacheEntry[] {
  return state.entries.filter((e) => e.family === family).sort((a, b) => (a.pulledAt < b.pulledAt ? 1 : a.pulledAt > b.pulledAt ? -1 : 0));
}
