/**
 * Host-side selection among cached versions: `ingot cache list`, `cache use
 * VERSION` and `cache rollback` (the version pulled before the current one).
 * Nothing is downloaded; the `current` link moves atomically under the lock.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { compatibilityProblem, type HostFacts } from './compat.js';
import { cacheFile, cachePaths, cacheUnsafe, describeKind, readLinks, readRegularFile, sidecarText, switchLink } from './layout.js';
import { linkFor, loadLinkNames } from './link-names.js';
import { lockCache } from './lock.js';
import { familyEntries, loadState, type CacheEntry, type CacheState } from './state.js';

/** One family in a listing: its link, what it points at, and the cached versions (newest first). */
export interface CacheFamily {
  family: string;
  link: string;
  current?: string;
  entries: (CacheEntry & { current: boolean })[];
}

/** What the cache holds, per family. */
export async function listCache(cacheDir: string): Promise<CacheFamily[]> {
  const { root } = cachePaths(cacheDir);
  await requireCache(root);
  const state = await loadState(root);
  const links = await readLinks(root);
  const names = await loadLinkNames(root);
  const families = [...new Set(state.entries.map((e) => e.family))].sort();
  return families.map((family) => {
    const link = linkFor(names, family);
    const current = links.get(link);
    return { family, link, current, entries: familyEntries(state, family).map((e) => ({ ...e, current: e.file === current })) };
  });
}

/** Options of `useCached` and `rollbackCached`. */
export interface SwitchOptions {
  /** Family whose link moves; may be omitted when the cache holds one family. */
  family?: string;
  host?: HostFacts;
  log: Logger;
  signal?: AbortSignal;
  lockTimeoutMs?: number;
}

/** Where a link points now, and where it pointed before. */
export interface SwitchResult {
  family: string;
  link: string;
  file: string;
  version?: string;
  previous?: string;
}

/** Points the family's link at a cached version (matched by version or file name). */
export async function useCached(cacheDir: string, version: string, options: SwitchOptions): Promise<SwitchResult> {
  return withLock(cacheDir, options, 'ingot cache use', (state) => {
    const candidates = state.entries.filter(
      (e) => (options.family === undefined || e.family === options.family) && (e.version === version || e.file === version),
    );
    if (candidates.length === 0) {
      throw new IngotError(ErrorCode.cacheNotFound, `version "${version}" is not in the cache${options.family ? ` for family "${options.family}"` : ''}`, {
        hint: `cached: ${state.entries.map((e) => e.version ?? e.file).join(', ') || 'nothing'}; pull it first`,
        exitCode: ExitCode.usage,
      });
    }
    if (candidates.length > 1) {
      throw new IngotError(ErrorCode.usage, `version "${version}" is cached for several families; pass --family`, {
        hint: familiesHint(candidates.map((e) => e.family)),
        exitCode: ExitCode.usage,
      });
    }
    return candidates[0]!;
  });
}

/** Points the family's link at the version pulled before the current one. */
export async function rollbackCached(cacheDir: string, options: SwitchOptions): Promise<SwitchResult> {
  return withLock(cacheDir, options, 'ingot cache rollback', async (state, root) => {
    const family = options.family ?? onlyFamily(state);
    const link = linkFor(await loadLinkNames(root), family);
    const current = (await readLinks(root)).get(link);
    const entries = familyEntries(state, family); // newest first
    const at = entries.findIndex((e) => e.file === current);
    if (at < 0) throw new IngotError(ErrorCode.cacheNotFound, `${link} does not point at a cached version`, { exitCode: ExitCode.usage });
    const older = entries[at + 1];
    if (!older) {
      throw new IngotError(ErrorCode.cacheNotFound, `no version older than ${entries[at]!.version ?? current} is cached for ${link}`, {
        hint: 'pull the version you want with `ingot pull`, then `ingot cache use VERSION`',
        exitCode: ExitCode.usage,
      });
    }
    return older;
  });
}

async function withLock(
  cacheDir: string,
  options: SwitchOptions,
  owner: string,
  choose: (state: CacheState, root: string) => CacheEntry | Promise<CacheEntry>,
): Promise<SwitchResult> {
  const { root } = cachePaths(cacheDir);
  await requireCache(root);
  const lock = await lockCache(root, { owner, timeoutMs: options.lockTimeoutMs ?? 60_000, signal: options.signal });
  try {
    const state = await loadState(root);
    const target = await choose(state, root);
    await checkUsable(root, target, options.host ?? {});
    const link = linkFor(await loadLinkNames(root), target.family);
    const previous = (await readLinks(root)).get(link);
    await switchLink(root, link, target.file);
    options.log.info('switched', { link, file: target.file, version: target.version, previous });
    return { family: target.family, link, file: target.file, version: target.version, previous };
  } finally {
    await lock.release();
  }
}

/** The cached file must still be whole (size and sidecar) and compatible with the host. */
async function checkUsable(root: string, entry: CacheEntry, host: HostFacts): Promise<void> {
  const problem = compatibilityProblem(entry.compatibility, host);
  if (problem)
    throw new IngotError(ErrorCode.incompatible, `${entry.version ?? entry.file} is not compatible with this host: ${problem}`, { image: entry.name });
  const file = cacheFile(root, entry.file);
  // A cached file counts only as a regular file: a same-size symlink to elsewhere is not our bytes.
  const stat = await fs.lstat(file).catch(() => undefined);
  if (stat && !stat.isFile()) {
    throw cacheUnsafe(
      `cached file ${entry.file} is ${describeKind(stat)}, not the regular file ingot wrote: refusing to use it`,
      file,
      `remove it and pull it again with \`ingot pull ${entry.path}\``,
    );
  }
  const sidecar = await readRegularFile(`${file}.sha256`);
  if (stat?.size !== entry.size || sidecar !== sidecarText(entry.sha256, entry.file)) {
    throw new IngotError(ErrorCode.cacheNotFound, `cached file ${entry.file} is missing or damaged`, {
      hint: `pull it again with \`ingot pull ${entry.path}\``,
      path: path.join(root, entry.file),
    });
  }
}

function onlyFamily(state: CacheState): string {
  const families = [...new Set(state.entries.map((e) => e.family))];
  if (families.length === 1) return families[0]!;
  throw new IngotError(ErrorCode.usage, families.length === 0 ? 'the cache is empty' : 'the cache holds several families; pass --family', {
    hint: families.length ? familiesHint(families) : undefined,
    exitCode: ExitCode.usage,
  });
}

/** The --family values to choose from, each as it must be typed (images without a family: --family ''). */
export function familiesHint(families: Iterable<string>): string {
  return `pass one of: ${[...new Set(families)]
    .sort()
    .map((f) => (f === '' ? "--family '' (images without a family)" : `--family ${f}`))
    .join(', ')}`;
}

async function requireCache(root: string): Promise<void> {
  const stat = await fs.stat(root).catch(() => undefined);
  if (!stat?.isDirectory())
    throw new IngotError(ErrorCode.cacheNotFound, `no cache at ${root}`, {
      hint: 'pull something into it first with `ingot pull … --to DIR`',
      exitCode: ExitCode.usage,
    });
}
