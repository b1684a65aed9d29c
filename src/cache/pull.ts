/**
 * `ingot pull`: the host side of trust, as a table of contents.
 *
 *   lock the cache → fetch + verify the signed index (before parsing it) →
 *   refuse rollback / freeze → select (path, name, family or channel;
 *   compatibility) → download in one verified pass unless already cached →
 *   sidecar → record → switch `current` → retention → unlock.
 *
 * Each step leaves the cache consistent if the process dies right after it:
 * a download lives under .ingot/tmp until verified; state is saved before the
 * link moves; retention forgets a file before deleting it.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Digest } from '../digest/digest.js';
import { ErrorCode, IngotError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { ImageStore } from '../store/image-store.js';
import { INDEX_KEY, parseIndex, type Index } from '../trust/catalogue.js';
import { keyIdHex, type PublicKey } from '../trust/minisign-format.js';
import { getVerified } from '../trust/signed-object.js';
import type { HostFacts } from './compat.js';
import { clearTemporary, fetchVerified } from './fetch.js';
import { bootLinks, loadBootState } from './boot-pairs.js';
import { cacheFile, cacheFileProblem, cachePaths, describeKind, readLink, readRegularFile, sidecarText, switchLink, writeFileAtomic } from './layout.js';
import { chooseLink } from './link-names.js';
import { lockCache } from './lock.js';
import { applyRetention, DEFAULT_KEEP } from './retention.js';
import { selectImage, type RolloutChoice, type Selection } from './select.js';
import { catalogueId, loadState, saveState, type CacheEntry, type CacheState, type StoreRecord } from './state.js';

/** Everything a pull needs; the CLI maps its flags onto this. */
export interface PullOptions {
  store: ImageStore;
  cacheDir: string;
  publicKey: PublicKey;
  /** Image path, image name, or family (with or without `channel`). */
  target: string;
  family?: string;
  channel?: string;
  /** This host's stable id, asked for only when a channel entry is rolled out to a share of hosts. */
  hostId?: () => Promise<string>;
  allowRollback?: boolean;
  allowExpired?: boolean;
  /** Versions kept per family (default 3). */
  keep?: number;
  /** Link name for the family (default `current-<family>`, or `current`; remembered by the cache). */
  link?: string;
  host?: HostFacts;
  /** How long to wait for another pull into the same cache (default 10 minutes). */
  lockTimeoutMs?: number;
  log: Logger;
  signal?: AbortSignal;
  now?: () => Date;
  onBytes?: (n: number) => void;
}

/** What a pull did (also the `--json` output of `ingot pull`). */
export interface PullResult {
  status: 'pulled' | 'cached';
  file: string;
  /** Absolute path of the verified bytes. */
  localPath: string;
  link: string;
  name: string;
  path: string;
  family: string;
  version?: string;
  sha256: Digest;
  size: number;
  indexVersion: number;
  removed: string[];
  /** Set when the channel entry is a canary: the share, this host's bucket, and what it chose. */
  rollout?: RolloutChoice;
}

/** Pulls one image into a host cache; see the module comment for the steps. */
export async function pull(options: PullOptions): Promise<PullResult> {
  const now = options.now ?? (() => new Date());
  const { root } = cachePaths(options.cacheDir);
  await fs.mkdir(root, { recursive: true });
  const lock = await lockCache(root, { owner: `ingot pull ${options.target}`, timeoutMs: options.lockTimeoutMs ?? 600_000, signal: options.signal });
  try {
    await clearTemporary(root);
    const state = await loadState(root);
    const storeUrl = options.store.displayUrl;
    const { index, floor } = await fetchIndex(options, state, storeUrl, now());
    const selection = await selectImage(index, {
      target: options.target,
      family: options.family,
      channel: options.channel,
      ...(options.hostId ? { hostId: options.hostId } : {}),
      host: options.host ?? {},
      store: options.store,
      publicKey: options.publicKey,
      lastChannelSequence: (family) => floor.record?.channels[family],
      allowRollback: options.allowRollback,
      signal: options.signal,
    });
    const file = cacheFileName(selection, state);
    const boot = await loadBootState(root);
    // A boot pair's file belongs to the pair's retention, not to a family's.
    if (boot.pairs.some((p) => p.kernel.file === file || p.initramfs.file === file)) {
      throw new IngotError(ErrorCode.cacheConflict, `${file} is cached as part of a boot pair`, {
        hint: 'pull boot sets with `ingot pull --boot-set`, or use a separate cache directory (--to) for single images',
        image: selection.entry.name,
      });
    }
    // The link is settled before any bytes move: a refused link leaves nothing behind.
    const {
      link,
      previous: oldLink,
      remember,
    } = await chooseLink(
      root,
      selection.family,
      options.link,
      state.entries.map((e) => e.family),
      bootLinks(boot),
    );
    const cached = await isCached(root, state, selection, file, options.log);
    if (!cached) {
      options.log.info('downloading', { image: selection.entry.name, path: selection.entry.path, bytes: selection.entry.size });
      await fetchVerified(options.store.backend, selection.entry, root, file, { signal: options.signal, onBytes: options.onBytes });
      await writeFileAtomic(path.join(root, `${file}.sha256`), sidecarText(selection.entry.sha256, file));
    }
    const linked = (await readLink(root, link)) === file;
    const before = JSON.stringify(state);
    record(state, floor, storeUrl, index, selection, file, now(), cached && linked);
    // A pull of what is cached, current and already recorded writes nothing at all.
    if (JSON.stringify(state) !== before) await saveState(root, state);
    if (!linked) await switchLink(root, link, file);
    // A family given another link name remembers it, and leaves no stale link behind (it would pin its file forever).
    await remember();
    if (oldLink !== undefined && oldLink !== link) await fs.rm(path.join(root, oldLink), { force: true });
    const removed = await applyRetention(root, state, selection.family, options.keep ?? DEFAULT_KEEP, options.log);
    options.log.info(cached ? 'already cached' : 'pulled', { image: selection.entry.name, file, link, version: selection.entry.version });
    return {
      status: cached ? 'cached' : 'pulled',
      file,
      localPath: path.join(root, file),
      link,
      name: selection.entry.name,
      path: selection.entry.path,
      family: selection.family,
      version: selection.entry.version,
      sha256: selection.entry.sha256,
      size: selection.entry.size,
      indexVersion: index.version,
      removed,
      ...(selection.rollout ? { rollout: selection.rollout } : {}),
    };
  } finally {
    await lock.release();
  }
}

/**
 * Where this cache keeps the floor for an index: per catalogue identity (key
 * id + storeId) when the index carries a storeId, else per store URL (indexes
 * signed before storeIds). `record` is the floor now, seeded on first use of
 * an identity from the URL's legacy record (caches written before). `id` also
 * names the catalogue for the boot manifests' replay floor (boot-pull.ts).
 */
export interface Floor {
  field: 'catalogues' | 'stores';
  id: string;
  record: StoreRecord | undefined;
}

function floorFor(state: CacheState, keyId: string, index: Index, storeUrl: string): Floor {
  if (index.storeId === undefined) return { field: 'stores', id: storeUrl, record: state.stores[storeUrl] };
  const id = catalogueId(keyId, index.storeId);
  return { field: 'catalogues', id, record: state.catalogues?.[id] ?? state.stores[storeUrl] };
}

/** Fetches, verifies, then parses the index, and applies the rollback and freeze rules (also used by boot-set pulls). */
export async function fetchIndex(
  options: Pick<PullOptions, 'store' | 'publicKey' | 'allowRollback' | 'allowExpired' | 'signal'>,
  state: CacheState,
  storeUrl: string,
  now: Date,
): Promise<{ index: Index; floor: Floor }> {
  const object = await getVerified(options.store.backend, INDEX_KEY, options.publicKey, { signal: options.signal });
  if (!object) {
    throw new IngotError(ErrorCode.signatureMissing, `the store has no signed index: ${storeUrl}`, {
      hint: 'publish with a signing key configured, or run `ingot sign --store URL --signing-key KEY`',
      url: storeUrl,
    });
  }
  const index = parseIndex(object.bytes, `${storeUrl}/${INDEX_KEY}`);
  const keyId = keyIdHex(options.publicKey.keyId);
  const floor = floorFor(state, keyId, index, storeUrl);
  // This key already signs catalogues with a storeId: one without is from before, a replay.
  const keyMovedOn = index.storeId === undefined && Object.keys(state.catalogues ?? {}).some((id) => id.startsWith(`${keyId}/`));
  if (keyMovedOn && !options.allowRollback) {
    throw new IngotError(
      ErrorCode.indexRollback,
      `index version ${index.version} carries no store identity, but this cache already accepted indexes with one signed by key ${keyId}`,
      {
        hint: 'it was signed before the store was re-signed by a current ingot: someone may be replaying it; re-sign the store (`ingot sign`), or re-run with --allow-rollback if you really restored an old index',
        url: storeUrl,
      },
    );
  }
  const last = floor.record?.indexVersion;
  if (last !== undefined && index.version < last && !options.allowRollback) {
    throw new IngotError(ErrorCode.indexRollback, `index version went back: the store serves version ${index.version}, this cache already accepted ${last}`, {
      hint: 'someone may be replaying an old index to hold back updates; if the publisher really restored an old index, re-run with --allow-rollback',
      url: storeUrl,
      expected: `>= ${last}`,
      actual: String(index.version),
    });
  }
  if (Date.parse(index.expires) <= now.getTime() && !options.allowExpired) {
    throw new IngotError(ErrorCode.indexExpired, `index expired at ${index.expires} (version ${index.version})`, {
      hint: 'the publisher has not re-signed it (or someone is freezing this host on an old index); run `ingot sign` on the store, or re-run with --allow-expired',
      url: storeUrl,
      expected: `expires after ${now.toISOString()}`,
      actual: index.expires,
    });
  }
  return { index, floor };
}

function cacheFileName(selection: Selection, state: CacheState): string {
  const file = path.posix.basename(selection.entry.path);
  const problem = cacheFileProblem(file);
  if (problem) throw new IngotError(ErrorCode.cacheConflict, `cannot cache ${selection.entry.path}: its file name ${problem}`, { image: selection.entry.name });
  const other = state.entries.find((e) => e.file === file && e.path !== selection.entry.path);
  if (other) {
    throw new IngotError(ErrorCode.cacheConflict, `${file} is already cached for another image (${other.path})`, {
      hint: 'use a separate cache directory (--to) for images whose file names collide',
      image: selection.entry.name,
    });
  }
  return file;
}

/**
 * Cached and matching: recorded with the same digest, a regular file of the
 * right size on disk (never a symlink: that could point anywhere), sidecar
 * present. No bytes are read. Anything else is downloaded again, and the
 * verified bytes replace whatever was there.
 */
async function isCached(root: string, state: CacheState, selection: Selection, file: string, log: Logger): Promise<boolean> {
  const entry = state.entries.find((e) => e.file === file);
  if (!entry || entry.sha256 !== selection.entry.sha256 || entry.size !== selection.entry.size) return false;
  const full = cacheFile(root, file);
  const stat = await fs.lstat(full).catch(() => undefined);
  if (stat && !stat.isFile()) {
    log.warn(`cached file ${file} is ${describeKind(stat)}, not the regular file ingot wrote: downloading it again`, { path: full });
    return false;
  }
  const sidecar = await readRegularFile(`${full}.sha256`);
  return stat?.size === entry.size && sidecar === sidecarText(entry.sha256, file);
}

/**
 * Records that this cache accepted `index` under `floor` (also used by
 * boot-set pulls): the floor only rises. Returns the record now in the state.
 */
export function recordIndex(state: CacheState, floor: Floor, index: Index, now: Date): StoreRecord {
  // A copy: the legacy per-URL record that seeded a new identity stays as it was.
  const seed = floor.record;
  const store: StoreRecord = seed ? { ...seed, channels: { ...seed.channels } } : { indexVersion: 0, acceptedAt: '', channels: {} };
  // The floor only rises: an index accepted with --allow-rollback does not lower it.
  const raised = index.version > store.indexVersion;
  store.indexVersion = Math.max(store.indexVersion, index.version);
  if (raised || store.acceptedAt === '') store.acceptedAt = now.toISOString();
  if (floor.field === 'catalogues') state.catalogues = { ...state.catalogues, [floor.id]: store };
  else state.stores[floor.id] = store;
  return store;
}

/** Records the accepted index and the entry; `keepPlace` keeps the pull time of a file that is already current. */
function record(state: CacheState, floor: Floor, storeUrl: string, index: Index, selection: Selection, file: string, now: Date, keepPlace: boolean): void {
  const store = recordIndex(state, floor, index, now);
  if (selection.channel) {
    const { family, sequence } = selection.channel;
    store.channels[family] = Math.max(store.channels[family] ?? 0, sequence);
  }
  const previous = state.entries.find((e) => e.file === file);
  const e = selection.entry;
  const entry: CacheEntry = {
    file,
    family: selection.family,
    name: e.name,
    path: e.path,
    ...(e.version !== undefined ? { version: e.version } : {}),
    sha256: e.sha256,
    checksum: e.checksum,
    size: e.size,
    // Selecting a cached older file again moves it to the front of rollback order.
    pulledAt: keepPlace && previous ? previous.pulledAt : now.toISOString(),
    store: storeUrl,
    ...(e.compatibility ? { compatibility: e.compatibility } : {}),
  };
  state.entries = [...state.entries.filter((x) => x.file !== file), entry];
}
