/**
 * `ingot pull --boot-set NAME`: a kernel and its initramfs into the host
 * cache as one unit, as the guest-init delivery document describes it.
 *
 *   lock → verified index (rollback / freeze rules, per catalogue identity) →
 *   verified boot manifest boot/<NAME>.json (at most 1 MiB and its signature
 *   16 KiB, read before parsing; one signed earlier than this cache accepted
 *   for the same catalogue and set is a replay, however the store's URL is
 *   spelled) — or, with a channel, the verified channel file
 *   channels/boot-sets/<NAME>.json (its sequence is the replay guard), the
 *   entry this host follows (rollout share), and the pinned manifest it names
 *   (signature and sha256 checked) → host compatibility (agent version, protocols) →
 *   both images found in the index by digest → download what is missing, one
 *   verified pass each, sidecars → record → switch the pair (boot-pairs.ts) →
 *   keep the last N pairs → unlock.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { formatDigest, type Digest } from '../digest/digest.js';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { parseBootManifest, type BootManifest } from '../initramfs/boot-manifest.js';
import type { Logger } from '../log/logger.js';
import type { ImageStore } from '../store/image-store.js';
import type { Index, IndexEntry } from '../trust/catalogue.js';
import type { PublicKey } from '../trust/minisign-format.js';
import { getVerified } from '../trust/signed-object.js';
import { bootManifestKey, readPinnedManifest } from '../trust/boot-channels.js';
import { checkName } from '../trust/channels.js';
import {
  applyPairRetention,
  bootSetNameProblem,
  DEFAULT_INITRAMFS_LINK,
  DEFAULT_KERNEL_LINK,
  ensurePairDir,
  kernelLabel,
  initramfsLabel,
  loadBootState,
  manifestFloorKey,
  pairId,
  pairProblem,
  pairsDir,
  readPointer,
  repairSlots,
  saveBootState,
  slotPairs,
  switchPair,
  type BootPair,
  type BootState,
  type PairFile,
} from './boot-pairs.js';
import type { HostFacts } from './compat.js';
import { clearTemporary, fetchVerified } from './fetch.js';
import { cacheFile, cacheFileProblem, cachePaths, describeKind, readRegularFile, sidecarText, writeFileAtomic } from './layout.js';
import { linkFor, linkNameProblem, loadLinkNames } from './link-names.js';
import { lockCache } from './lock.js';
import { fetchIndex, recordIndex, type Floor } from './pull.js';
import { DEFAULT_KEEP } from './retention.js';
import { resolveChannel, type RolloutChoice } from './select.js';
import { loadState, saveState, type CacheState } from './state.js';

/** Where boot manifests live in a store (as src/sync/boot-sets.ts writes them). */
export const BOOT_PREFIX = 'boot/';

export interface BootPullOptions {
  store: ImageStore;
  cacheDir: string;
  publicKey: PublicKey;
  /** The boot set: boot/<set>.json in the store. */
  set: string;
  /** Follow this channel of the boot set (channels/boot-sets/<set>.json) instead of boot/<set>.json. */
  channel?: string;
  /** This host's stable id, asked for only when the channel entry is rolled out to a share of hosts. */
  hostId?: () => Promise<string>;
  /** Link names (default `current` and `current-initramfs`, the document's layout). */
  kernelLink?: string;
  initramfsLink?: string;
  allowRollback?: boolean;
  allowExpired?: boolean;
  /** Pairs kept per slot (default 3: "retention policy: last 3 versions"). */
  keep?: number;
  host?: HostFacts;
  lockTimeoutMs?: number;
  log: Logger;
  signal?: AbortSignal;
  now?: () => Date;
  onBytes?: (n: number) => void;
}

/** What a boot-set pull did (the `--json` output of `ingot pull --boot-set`). */
export interface BootPullResult {
  status: 'pulled' | 'cached';
  set: string;
  pair: string;
  kernel: { file: string; localPath: string; label: string; link: string; downloaded: boolean };
  initramfs: { file: string; localPath: string; label: string; link: string; downloaded: boolean; guestInitProtocol: number };
  /** The pair the slot pointed at before, if another. */
  previous?: string;
  indexVersion: number;
  removed: string[];
  /** With a channel: its name, the channel file's sequence and the entry's version (kernel label). */
  channel?: { name: string; sequence: number; version: string };
  /** Set when the channel entry is a canary: the share, this host's bucket, and what it chose. */
  rollout?: RolloutChoice;
}

/** The key of a boot set's channel sequence floor in the cache state's channels record. */
export function bootChannelFloorKey(set: string): string {
  return `boot-set:${set}`;
}

/** Pulls a boot set; see the module comment for the steps. */
export async function pullBootSet(options: BootPullOptions): Promise<BootPullResult> {
  const now = options.now ?? (() => new Date());
  const { root } = cachePaths(options.cacheDir);
  const setProblem = bootSetNameProblem(options.set);
  if (setProblem) throw new IngotError(ErrorCode.usage, `--boot-set ${JSON.stringify(options.set)}: ${setProblem}`, { exitCode: ExitCode.usage });
  await fs.mkdir(root, { recursive: true });
  const lock = await lockCache(root, { owner: `ingot pull --boot-set ${options.set}`, timeoutMs: options.lockTimeoutMs ?? 600_000, signal: options.signal });
  try {
    await clearTemporary(root);
    const state = await loadState(root);
    const boot = await loadBootState(root);
    // Checked before anything is downloaded: the pair directories must be ours.
    await pairsDir(root);
    await repairSlots(root, boot, options.log);
    const storeUrl = options.store.displayUrl;
    const links = await chooseLinks(root, options, state, boot);

    const { index, floor: indexFloor } = await fetchIndex(options, state, storeUrl, now());
    const { manifest, bytes, signedAt, via } =
      options.channel === undefined ? await fetchManifest(options, boot, storeUrl, indexFloor) : await fetchByChannel(options, options.channel, indexFloor);
    const facts = {
      initramfs: { guestInitProtocol: manifest.initramfs.guest_init_protocol },
      compatibility: manifest.compatibility,
    };
    const problem = pairProblem(facts, options.host ?? {});
    if (problem) {
      throw new IngotError(ErrorCode.incompatible, `boot set "${options.set}" cannot run on this host: ${problem}`, {
        hint: `the pair is kernel ${manifest.kernel.version}-${manifest.kernel.build_id} with guest init ${manifest.initramfs.guest_init_version} (protocol ${manifest.initramfs.guest_init_protocol}); nothing was downloaded or switched`,
        details: { compatibility: manifest.compatibility, host: options.host ?? {} },
      });
    }
    if (!options.host?.agentVersion && !options.host?.protocols?.length) {
      options.log.warn('no host facts given: the boot set is not checked against this host (pass --agent-version and --protocol, or --host-facts FILE)');
    }

    const kernelEntry = findEntry(index, manifest.kernel.sha256, 'kernel', options.set);
    const initramfsEntry = findEntry(index, manifest.initramfs.sha256, 'initramfs', options.set);
    if (initramfsEntry.size !== manifest.initramfs.size_bytes) {
      throw new IngotError(
        ErrorCode.sizeMismatch,
        `boot set "${options.set}": the initramfs is ${initramfsEntry.size} bytes in the signed index, ${manifest.initramfs.size_bytes} in the boot manifest`,
        {
          hint: 'the publisher must sync the boot set again; nothing was changed on this host',
        },
      );
    }
    const kernel = { ...pairFile(kernelEntry, state, boot), version: manifest.kernel.version, buildId: manifest.kernel.build_id };
    const initramfs = {
      ...pairFile(initramfsEntry, state, boot),
      guestInitVersion: manifest.initramfs.guest_init_version,
      guestInitProtocol: manifest.initramfs.guest_init_protocol,
      buildId: manifest.initramfs.build_id,
    };
    if (kernel.file === initramfs.file) {
      throw new IngotError(ErrorCode.cacheConflict, `boot set "${options.set}": the kernel and the initramfs have the same file name ${kernel.file}`, {
        hint: 'publish them under different destination paths',
      });
    }

    const downloaded = { kernel: false, initramfs: false };
    for (const [part, entry, file] of [
      ['kernel', kernelEntry, kernel.file],
      ['initramfs', initramfsEntry, initramfs.file],
    ] as const) {
      if (await isWhole(root, file, entry, options.log)) continue;
      options.log.info(`downloading the ${part}`, { image: entry.name, path: entry.path, bytes: entry.size });
      await fetchVerified(options.store.backend, entry, root, file, { signal: options.signal, onBytes: options.onBytes });
      await writeFileAtomic(path.join(root, `${file}.sha256`), sidecarText(entry.sha256, file));
      downloaded[part] = true;
    }

    const id = pairId(kernel.sha256, initramfs.sha256);
    const previous = await readPointer(root, links.kernel);
    const existing = boot.pairs.find((p) => p.id === id && p.links.kernel === links.kernel);
    const pair: BootPair = {
      id,
      set: options.set,
      store: storeUrl,
      kernel,
      initramfs,
      compatibility: manifest.compatibility,
      links,
      // Pulling a cached older pair again moves it to the front of rollback order; the current one keeps its place.
      pulledAt: existing && previous === id ? existing.pulledAt : now().toISOString(),
    };
    const before = JSON.stringify(boot);
    boot.pairs = [...boot.pairs.filter((p) => p !== existing), pair];
    // The replay floor, like the index's, follows the catalogue's identity; a legacy per-URL record seeds it.
    const floor = manifestFloorKey(indexFloor.id, options.set);
    // A pinned manifest (through a channel) does not move it: its signing time is the channel move's, and a rollback may be older.
    if (signedAt !== undefined)
      boot.manifests[floor] = Math.max(boot.manifests[floor] ?? boot.manifests[manifestFloorKey(storeUrl, options.set)] ?? 0, signedAt);
    if (JSON.stringify(boot) !== before) await saveBootState(root, boot);
    const stateBefore = JSON.stringify(state);
    const record = recordIndex(state, indexFloor, index, now());
    if (via) {
      const key = bootChannelFloorKey(options.set);
      record.channels[key] = Math.max(record.channels[key] ?? 0, via.channel.sequence);
    }
    if (JSON.stringify(state) !== stateBefore) await saveState(root, state);

    await ensurePairDir(root, pair, bytes);
    await switchPair(root, pair, options.log);
    const removed = await applyPairRetention(root, boot, state, links.kernel, options.keep ?? DEFAULT_KEEP, options.log);
    const status = downloaded.kernel || downloaded.initramfs || previous !== id ? 'pulled' : 'cached';
    options.log.info(status === 'cached' ? 'boot pair already current' : 'boot pair pulled', {
      set: options.set,
      pair: id,
      kernel: kernel.file,
      initramfs: initramfs.file,
    });
    return {
      status,
      set: options.set,
      pair: id,
      kernel: { file: kernel.file, localPath: path.join(root, kernel.file), label: kernelLabel(pair), link: links.kernel, downloaded: downloaded.kernel },
      initramfs: {
        file: initramfs.file,
        localPath: path.join(root, initramfs.file),
        label: initramfsLabel(pair),
        link: links.initramfs,
        downloaded: downloaded.initramfs,
        guestInitProtocol: initramfs.guestInitProtocol,
      },
      ...(previous !== undefined && previous !== id ? { previous } : {}),
      indexVersion: index.version,
      removed,
      ...(via ? { channel: via.channel } : {}),
      ...(via?.rollout ? { rollout: via.rollout } : {}),
    };
  } finally {
    await lock.release();
  }
}

export { bootSetNameProblem };

// The slot's links: as given, else as the slot already uses them, else the document's names.
async function chooseLinks(root: string, options: BootPullOptions, state: CacheState, boot: BootState): Promise<BootPair['links']> {
  const kernel = options.kernelLink ?? DEFAULT_KERNEL_LINK;
  const known = slotPairs(boot, kernel)[0]?.links;
  const initramfs = options.initramfsLink ?? known?.initramfs ?? DEFAULT_INITRAMFS_LINK;
  for (const [flag, link] of [
    ['--kernel-link', kernel],
    ['--initramfs-link', initramfs],
  ] as const) {
    const problem = linkNameProblem(link);
    if (problem) throw new IngotError(ErrorCode.usage, `${flag} ${link}: ${problem}`, { exitCode: ExitCode.usage });
  }
  if (kernel === initramfs) throw new IngotError(ErrorCode.usage, 'the kernel and the initramfs need two different links', { exitCode: ExitCode.usage });
  if (known && known.initramfs !== initramfs) {
    throw new IngotError(ErrorCode.cacheConflict, `the pairs switched through ${kernel} use ${known.initramfs} for the initramfs, not ${initramfs}`, {
      hint: `keep --initramfs-link ${known.initramfs}, or use another --kernel-link or cache directory`,
      exitCode: ExitCode.usage,
    });
  }
  const otherSlot = boot.pairs.find(
    (p) => p.links.kernel !== kernel && (p.links.initramfs === initramfs || p.links.initramfs === kernel || p.links.kernel === initramfs),
  );
  if (otherSlot) {
    throw new IngotError(
      ErrorCode.cacheConflict,
      `boot set "${otherSlot.set}" already switches ${otherSlot.links.kernel} and ${otherSlot.links.initramfs} in this cache`,
      {
        hint: 'give this boot set other links (--kernel-link, --initramfs-link) or its own cache directory',
        exitCode: ExitCode.usage,
      },
    );
  }
  // An ordinary family pull must not own either link.
  const names = await loadLinkNames(root);
  for (const family of new Set(state.entries.map((e) => e.family))) {
    const link = linkFor(names, family);
    if (link === kernel || link === initramfs) {
      throw new IngotError(
        ErrorCode.cacheConflict,
        `link ${link} already belongs to ${family === '' ? 'the images without a family' : `family "${family}"`} in this cache`,
        {
          hint: 'pull boot sets into their own cache directory (--to), or give them other links (--kernel-link, --initramfs-link)',
          exitCode: ExitCode.usage,
        },
      );
    }
  }
  return { kernel, initramfs };
}

interface FetchedManifest {
  manifest: BootManifest;
  bytes: Buffer;
  /** The current manifest's signing time (its replay floor); undefined for a pinned one. */
  signedAt?: number;
  via?: { channel: NonNullable<BootPullResult['channel']>; rollout?: RolloutChoice };
}

// Through a channel: the channel file's sequence guards against replays, the pointer's checksum pins the bytes.
async function fetchByChannel(options: BootPullOptions, channel: string, indexFloor: Floor): Promise<FetchedManifest> {
  checkName('channel', channel);
  const { file, pointer, rollout } = await resolveChannel({
    store: options.store,
    publicKey: options.publicKey,
    name: options.set,
    kind: 'boot-set',
    channel,
    lastSequence: indexFloor.record?.channels[bootChannelFloorKey(options.set)],
    ...(options.hostId ? { hostId: options.hostId } : {}),
    allowRollback: options.allowRollback,
    signal: options.signal,
  });
  const { manifest, bytes } = await readPinnedManifest(options.store, options.set, pointer, options.publicKey, options.signal);
  return { manifest, bytes, via: { channel: { name: channel, sequence: file.sequence, version: pointer.version }, ...(rollout ? { rollout } : {}) } };
}

async function fetchManifest(options: BootPullOptions, boot: BootState, storeUrl: string, indexFloor: Floor): Promise<FetchedManifest> {
  const key = bootManifestKey(options.set);
  const object = await getVerified(options.store.backend, key, options.publicKey, { signal: options.signal });
  if (!object) {
    const available: string[] = [];
    for await (const info of options.store.backend.list(BOOT_PREFIX, options.signal)) {
      // Pinned copies (boot/<set>/<sha256>.json) are not boot sets.
      const rest = info.key.slice(BOOT_PREFIX.length);
      if (rest.endsWith('.json') && !rest.includes('/')) available.push(rest.slice(0, -'.json'.length));
    }
    throw new IngotError(ErrorCode.notInIndex, `no boot set "${options.set}" in ${storeUrl}`, {
      hint: available.length
        ? `boot sets in the store: ${available.sort().join(', ')}`
        : 'the store has no boot sets: add spec.bootSets to the manifest and sync with a signing key',
      exitCode: ExitCode.usage,
      url: storeUrl,
    });
  }
  const manifest = parseBootManifest(object.bytes, `${storeUrl}/${key}`);
  const signedAt = Number(object.fields.timestamp);
  const floor = boot.manifests[manifestFloorKey(indexFloor.id, options.set)] ?? boot.manifests[manifestFloorKey(storeUrl, options.set)];
  if (floor !== undefined && Number.isFinite(signedAt) && signedAt < floor && !options.allowRollback) {
    throw new IngotError(
      ErrorCode.bootManifestRollback,
      `boot manifest of "${options.set}" went back: the store serves one signed at ${iso(signedAt)}, this cache already accepted one signed at ${iso(floor)}`,
      {
        hint: 'someone may be replaying an old boot manifest; if the publisher really restored an old one, re-run with --allow-rollback',
        url: storeUrl,
        expected: `signed at or after ${iso(floor)}`,
        actual: iso(signedAt),
      },
    );
  }
  return { manifest, bytes: object.bytes, signedAt: Number.isFinite(signedAt) ? signedAt : 0 };
}

// The index entry whose bytes the manifest names (several paths with the same bytes: the first by path).
function findEntry(index: Index, sha256hex: string, part: 'kernel' | 'initramfs', set: string): IndexEntry {
  const digest = formatDigest('sha256', sha256hex);
  const found = index.images.filter((e) => e.sha256 === digest).sort((a, b) => (a.path < b.path ? -1 : 1))[0];
  if (!found) {
    throw new IngotError(ErrorCode.notInIndex, `boot set "${set}" names a ${part} (${digest}) that the signed index does not list`, {
      hint: 'the boot manifest and the index disagree (an old boot manifest, or the image was pruned); the publisher must sync the boot set again',
    });
  }
  return found;
}

// The cache file for an index entry; refuses a name whose bytes another pair or image still needs.
function pairFile(entry: IndexEntry, state: CacheState, boot: BootState): PairFile {
  const file = path.posix.basename(entry.path);
  const problem = cacheFileProblem(file);
  if (problem) throw new IngotError(ErrorCode.cacheConflict, `cannot cache ${entry.path}: its file name ${problem}`, { image: entry.name });
  const image = state.entries.find((e) => e.file === file);
  const pair = boot.pairs.flatMap((p) => [p.kernel, p.initramfs]).find((f) => f.file === file && f.sha256 !== entry.sha256);
  if (image || pair) {
    throw new IngotError(ErrorCode.cacheConflict, `${file} is already cached with other bytes (${image ? `image ${image.path}` : `a kept boot pair`})`, {
      hint: 'give every build its own file name (the document names them vmlinuz-plfm-<version>-<build> and initramfs-plfm-guestinit-<version>-<build>.img), or use a separate cache',
      image: entry.name,
    });
  }
  return { file, path: entry.path, name: entry.name, sha256: entry.sha256, checksum: entry.checksum, size: entry.size };
}

// Whole: a regular file of the right size (never a symlink: that could point anywhere) whose sidecar names
// the index's digest; no bytes are read. Anything else is downloaded again, and the verified bytes replace it.
async function isWhole(root: string, file: string, entry: IndexEntry, log: Logger): Promise<boolean> {
  const full = cacheFile(root, file);
  const stat = await fs.lstat(full).catch(() => undefined);
  if (stat && !stat.isFile()) {
    log.warn(`cached file ${file} is ${describeKind(stat)}, not the regular file ingot wrote: downloading it again`, { path: full });
    return false;
  }
  const sidecar = await readRegularFile(`${full}.sha256`);
  return stat?.size === entry.size && sidecar === sidecarText(entry.sha256 as Digest, file);
}

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}
