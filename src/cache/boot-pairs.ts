/**
 * Boot pairs in the host cache: a kernel and the initramfs it boots with,
 * switched as one unit. On disk, next to the files and their sidecars:
 *
 *     current -> vmlinuz-plfm-6.1.50-20251217a                (kernel link)
 *     current-initramfs -> initramfs-plfm-guestinit-1.0.0-20251217a.img
 *     .ingot/pairs/<id>/kernel -> ../../../vmlinuz-…            (immutable pair
 *     .ingot/pairs/<id>/initramfs -> ../../../initramfs-….img    directories)
 *     .ingot/pairs/<id>/boot.json                               (the signed manifest)
 *     .ingot/pair-current -> pairs/<id>                         (the pair pointer)
 *     .ingot/boot.json                                          (this module's state)
 *
 * Two directory entries cannot change in one atomic step, so the pair has a
 * single pointer that can: `.ingot/pair-<kernel link>`, switched by one
 * rename. It moves first, then the initramfs link, then the kernel link last.
 * A reader that must never see a mixed pair either resolves the pointer once
 * and uses `<pair>/kernel` and `<pair>/initramfs`, or reads the two links and
 * then the pointer and accepts them only when they agree (they always agree
 * once a switch is over; `checkPairLinks` says so). The pointer is the commit
 * point: a switch interrupted after it is completed by the next boot command.
 *
 * As everywhere in the cache (layout.ts), nothing on disk is trusted:
 * `boot.json` and `.ingot/pairs` are never used through a symlink, every
 * file, link and pair name read back is checked before it becomes a path,
 * a pointer counts only while it is the symlink ingot makes (`pairs/<id>`),
 * and a pair's kernel and initramfs count only while they are regular files.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Digest } from '../digest/digest.js';
import { ErrorCode, IngotError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { compatibilityProblem, type HostFacts } from './compat.js';
import {
  cacheFile,
  cacheFileProblem,
  cacheIo,
  cachePaths,
  cacheUnsafe,
  describeKind,
  ensureOwnDir,
  ensureStateDirs,
  readLink,
  readLinks,
  readRegularFile,
  requireRegularOrAbsent,
  sidecarText,
  switchLink,
  syncDir,
  writeFileAtomic,
} from './layout.js';
import { linkNameProblem } from './link-names.js';
import type { CacheState } from './state.js';

/** Default link names: the guest-init document's layout. */
export const DEFAULT_KERNEL_LINK = 'current';
export const DEFAULT_INITRAMFS_LINK = 'current-initramfs';

/** One cached file of a pair. */
export interface PairFile {
  file: string;
  /** Image path and name in the store. */
  path: string;
  name: string;
  sha256: Digest;
  checksum: Digest;
  size: number;
}

/** A kernel + initramfs pair as pulled from a signed boot manifest. */
export interface BootPair {
  /** First 16 hex digits of sha256(kernel sha256 ‖ initramfs sha256). */
  id: string;
  /** The boot set it was pulled as. */
  set: string;
  store: string;
  kernel: PairFile & { version: string; buildId: string };
  initramfs: PairFile & { guestInitVersion: string; guestInitProtocol: number; buildId: string };
  compatibility: { min_agent_version: string; max_agent_version?: string; supported_protocols: number[] };
  /** The links this pair is switched through ("the slot", named by its kernel link). */
  links: { kernel: string; initramfs: string };
  /** RFC 3339; orders a slot's pairs for rollback and retention. */
  pulledAt: string;
}

/** `.ingot/boot.json`. */
export interface BootState {
  schemaVersion: 1;
  pairs: BootPair[];
  /**
   * "<catalogue> <set>" → trusted-comment timestamp of the newest boot
   * manifest accepted (replay floor). The catalogue is the index's floor id
   * (pull.ts `Floor`): "<key id>/<storeId>", or the store URL for an index
   * signed before storeIds — so another spelling of the store's URL shares it.
   */
  manifests: Record<string, number>;
}

const STATE_FILE = 'boot.json';
const PAIRS_DIR = 'pairs';

/** The pair's id from the two digests. */
export function pairId(kernelSha256: string, initramfsSha256: string): string {
  return createHash('sha256').update(`${kernelSha256}\n${initramfsSha256}`).digest('hex').slice(0, 16);
}

/** "6.1.50-20251217a": how the document's advertisement names a kernel. */
export function kernelLabel(pair: BootPair): string {
  return `${pair.kernel.version}-${pair.kernel.buildId}`;
}

/** "guestinit-1.0.0-20251217a": how the document's advertisement names an initramfs. */
export function initramfsLabel(pair: BootPair): string {
  return `guestinit-${pair.initramfs.guestInitVersion}-${pair.initramfs.buildId}`;
}

/** The pointer's name inside `.ingot/` for the slot whose kernel link is `kernelLink`. */
export function pointerName(kernelLink: string): string {
  return `pair-${kernelLink}`;
}

/** The replay floor's key in `manifests` for a boot set of a catalogue. */
export function manifestFloorKey(catalogue: string, set: string): string {
  return `${catalogue} ${set}`;
}

/** Why `set` cannot name a boot manifest, or undefined (it becomes part of a store key). */
export function bootSetNameProblem(set: string): string | undefined {
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(set) ? undefined : 'a boot set name is letters, digits, ".", "_" and "-"';
}

const PAIR_ID = /^[0-9a-f]{16}$/;

export async function loadBootState(cacheDir: string): Promise<BootState> {
  const file = bootStateFile(cacheDir);
  await requireRegularOrAbsent(file);
  const text = await fs.readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw cacheIo(`read ${file}`, error);
  });
  if (text === undefined) return { schemaVersion: 1, pairs: [], manifests: {} };
  let data: BootState;
  try {
    data = JSON.parse(text) as BootState;
    const problem = bootShapeProblem(data);
    if (problem) throw new Error(problem);
  } catch (error) {
    throw new IngotError(ErrorCode.cacheNotFound, `boot pair state is damaged: ${file}: ${(error as Error).message}`, {
      path: file,
      hint: 'move the file away: the next `ingot pull --boot-set` starts the pair history again',
    });
  }
  // Names from this file become paths: the same rules as when they were written.
  data.pairs.forEach((pair, i) => {
    const problem = pairNameProblem(pair);
    if (problem) {
      throw cacheUnsafe(
        `boot pair state pairs[${i}] ${problem}`,
        file,
        'the file was edited by something other than ingot; move it away (the next `ingot pull --boot-set` starts the pair history again) and check the cache directory',
      );
    }
  });
  return data;
}

function bootShapeProblem(data: BootState): string | undefined {
  if (typeof data !== 'object' || data === null || data.schemaVersion !== 1 || !Array.isArray(data.pairs)) return 'unexpected shape';
  if (typeof data.manifests !== 'object' || data.manifests === null || Array.isArray(data.manifests)) return '"manifests" is not an object';
  if (Object.values(data.manifests).some((t) => typeof t !== 'number' || !Number.isFinite(t) || t < 0)) return '"manifests" holds a value that is not a time';
  for (const [i, p] of data.pairs.entries()) {
    if (typeof p !== 'object' || p === null) return `pairs[${i}] is not an object`;
    for (const part of ['kernel', 'initramfs'] as const) {
      const f = p[part];
      if (typeof f !== 'object' || f === null) return `pairs[${i}].${part} is not an object`;
      if (typeof f.sha256 !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(f.sha256)) return `pairs[${i}].${part}.sha256 is not a sha256 digest`;
      if (!Number.isSafeInteger(f.size) || f.size < 0) return `pairs[${i}].${part}.size is not a size`;
    }
    if (typeof p.links !== 'object' || p.links === null) return `pairs[${i}].links is not an object`;
    if (typeof p.pulledAt !== 'string') return `pairs[${i}].pulledAt is not a time`;
    if (typeof p.compatibility !== 'object' || p.compatibility === null) return `pairs[${i}].compatibility is not an object`;
    if (!Number.isSafeInteger(p.initramfs.guestInitProtocol)) return `pairs[${i}].initramfs.guestInitProtocol is not a number`;
  }
  return undefined;
}

/** Why a pair's names (id, set, files, links) cannot be used, or undefined. */
function pairNameProblem(pair: BootPair): string | undefined {
  if (typeof pair.id !== 'string' || !PAIR_ID.test(pair.id)) return `names pair ${JSON.stringify(pair.id)}: expected 16 hex digits`;
  if (typeof pair.set !== 'string' || bootSetNameProblem(pair.set))
    return `names boot set ${JSON.stringify(pair.set)}: ${bootSetNameProblem(String(pair.set))}`;
  for (const part of ['kernel', 'initramfs'] as const) {
    const file = pair[part].file;
    const problem = typeof file === 'string' ? cacheFileProblem(file) : 'is not a string';
    if (problem) return `names ${part} file ${JSON.stringify(file)}: ${problem}`;
    const link = pair.links[part];
    const linkProblem = typeof link === 'string' ? linkNameProblem(link) : 'is not a string';
    if (linkProblem) return `names ${part} link ${JSON.stringify(link)}: ${linkProblem}`;
  }
  return undefined;
}

function bootStateFile(cacheDir: string): string {
  return path.join(cachePaths(cacheDir).stateDir, STATE_FILE);
}

export async function saveBootState(cacheDir: string, state: BootState): Promise<void> {
  const file = bootStateFile(cacheDir);
  await requireRegularOrAbsent(file);
  await writeFileAtomic(file, `${JSON.stringify(state, null, 2)}\n`);
}

/** A slot's pairs, newest pull first. */
export function slotPairs(state: BootState, kernelLink: string): BootPair[] {
  return state.pairs.filter((p) => p.links.kernel === kernelLink).sort((a, b) => (a.pulledAt < b.pulledAt ? 1 : a.pulledAt > b.pulledAt ? -1 : 0));
}

/** Every link a boot pair is switched through (ordinary family pulls must keep off them). */
export function bootLinks(state: BootState): Set<string> {
  return new Set(state.pairs.flatMap((p) => [p.links.kernel, p.links.initramfs]));
}

/**
 * The id the slot's pointer names, or undefined when there is none. Anything
 * but the symlink ingot makes (`pairs/<id>`) is refused: readers follow the
 * pointer, so one planted elsewhere would hand them another kernel.
 */
export async function readPointer(cacheDir: string, kernelLink: string): Promise<string | undefined> {
  const pointer = path.join(cachePaths(cacheDir).stateDir, pointerName(kernelLink));
  const stat = await fs
    .lstat(pointer)
    .catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : Promise.reject(cacheIo(`inspect ${pointer}`, error))));
  if (!stat) return undefined;
  const target = stat.isSymbolicLink() ? await fs.readlink(pointer) : undefined;
  const match = target === undefined ? undefined : new RegExp(`^${PAIRS_DIR}/([0-9a-f]{16})$`).exec(target);
  if (!match) {
    throw cacheUnsafe(
      `refusing the boot pair pointer ${pointer}: it is ${target === undefined ? describeKind(stat) : `a symbolic link to ${JSON.stringify(target)}`}, not a link to one of ingot's pair directories`,
      pointer,
      `something other than ingot changed it; remove it and run \`ingot cache use --boot-set\` or \`ingot pull --boot-set\` again`,
    );
  }
  return match[1];
}

/** Why the pair cannot run on this host, or undefined. Facts the host does not give are not enforced. */
export function pairProblem(pair: { initramfs: { guestInitProtocol: number }; compatibility: BootPair['compatibility'] }, host: HostFacts): string | undefined {
  const protocol = pair.initramfs.guestInitProtocol;
  if (host.protocols?.length && !host.protocols.includes(protocol)) {
    return `its guest init speaks protocol ${protocol}; this host speaks ${host.protocols.join(', ')}`;
  }
  return compatibilityProblem({ ...pair.compatibility }, host);
}

/** Creates `.ingot/pairs/<id>/` once (built aside, then renamed in): never changed afterwards. */
export async function ensurePairDir(cacheDir: string, pair: BootPair, manifest?: Uint8Array): Promise<void> {
  const { stateDir, tmp } = cachePaths(cacheDir);
  const pairs = await pairsDir(cacheDir);
  const final = path.join(pairs, pairDirName(pair.id));
  if (await isPairDir(final, pair)) return;
  await ensureStateDirs(cacheDir, { tmp: true });
  const building = await fs.mkdtemp(path.join(tmp, `pair-${pair.id}-`));
  try {
    await fs.symlink(pairTarget(pair.kernel.file), path.join(building, 'kernel'));
    await fs.symlink(pairTarget(pair.initramfs.file), path.join(building, 'initramfs'));
    if (manifest) await fs.writeFile(path.join(building, 'boot.json'), manifest);
    // A leftover with the same id (an interrupted earlier build, or something planted) is replaced; rm never follows a symlink.
    await fs.rm(final, { recursive: true, force: true });
    await fs.rename(building, final);
    await syncDir(path.join(stateDir, PAIRS_DIR));
  } catch (error) {
    await fs.rm(building, { recursive: true, force: true });
    throw cacheIo(`prepare pair ${pair.id}`, error);
  }
}

/** `.ingot/pairs`, a real directory (created when absent; a symlink in its place is refused, never followed). */
export async function pairsDir(cacheDir: string): Promise<string> {
  await ensureStateDirs(cacheDir);
  const dir = path.join(cachePaths(cacheDir).stateDir, PAIRS_DIR);
  await ensureOwnDir(dir);
  return dir;
}

/** A pair id as a directory name, checked (ids come back from boot.json and pointers). */
function pairDirName(id: string): string {
  if (!PAIR_ID.test(id)) throw cacheUnsafe(`refusing a boot pair named ${JSON.stringify(id)}: expected 16 hex digits`, id);
  return id;
}

/** What a pair directory's `kernel` and `initramfs` links hold: the file, three levels up. */
function pairTarget(file: string): string {
  return path.posix.join('..', '..', '..', file);
}

// Ours only: a real directory whose two links are exactly what ensurePairDir writes.
async function isPairDir(dir: string, pair: BootPair): Promise<boolean> {
  const stat = await fs.lstat(dir).catch(() => undefined);
  if (!stat?.isDirectory()) return false;
  const target = (name: string) => fs.readlink(path.join(dir, name)).catch(() => undefined);
  const [kernel, initramfs] = await Promise.all([target('kernel'), target('initramfs')]);
  return kernel === pairTarget(pair.kernel.file) && initramfs === pairTarget(pair.initramfs.file);
}

/**
 * Switches the slot to `pair`: the pointer first (one rename: the commit
 * point), then the initramfs link, then the kernel link.
 */
export async function switchPair(cacheDir: string, pair: BootPair, log?: Logger): Promise<void> {
  const { root, stateDir } = cachePaths(cacheDir);
  await ensurePairDir(cacheDir, pair);
  await switchLink(stateDir, pointerName(pair.links.kernel), `${PAIRS_DIR}/${pairDirName(pair.id)}`);
  if ((await readLink(root, pair.links.initramfs)) !== pair.initramfs.file) await switchLink(root, pair.links.initramfs, pair.initramfs.file);
  if ((await readLink(root, pair.links.kernel)) !== pair.kernel.file) await switchLink(root, pair.links.kernel, pair.kernel.file);
  log?.info('switched boot pair', {
    pair: pair.id,
    kernel: pair.kernel.file,
    initramfs: pair.initramfs.file,
    links: `${pair.links.kernel}, ${pair.links.initramfs}`,
  });
}

/** Whether the slot's two links agree with its pointer (what a careful reader checks). */
export async function checkPairLinks(cacheDir: string, state: BootState, kernelLink: string): Promise<{ pair?: BootPair; consistent: boolean }> {
  const id = await readPointer(cacheDir, kernelLink);
  const pair = slotPairs(state, kernelLink).find((p) => p.id === id);
  if (!pair) return { consistent: id === undefined };
  const { root } = cachePaths(cacheDir);
  const [kernel, initramfs] = await Promise.all([readLink(root, pair.links.kernel), readLink(root, pair.links.initramfs)]);
  return { pair, consistent: kernel === pair.kernel.file && initramfs === pair.initramfs.file };
}

/** Completes a switch that was interrupted after the pointer moved (call with the cache lock held). */
export async function repairSlots(cacheDir: string, state: BootState, log: Logger): Promise<void> {
  for (const kernelLink of new Set(state.pairs.map((p) => p.links.kernel))) {
    const { pair, consistent } = await checkPairLinks(cacheDir, state, kernelLink);
    if (pair && !consistent) {
      log.warn('completing an interrupted boot pair switch', { pair: pair.id, link: kernelLink });
      await switchPair(cacheDir, pair, log);
    }
  }
}

/**
 * The pair's files are whole: size on disk and the sidecar as written. A
 * file that is there but not a regular file (a same-size symlink to
 * elsewhere is not our bytes) is refused outright (INGOT_CACHE_UNSAFE).
 */
export async function pairFilesProblem(cacheDir: string, pair: BootPair): Promise<string | undefined> {
  const { root } = cachePaths(cacheDir);
  for (const part of [pair.kernel, pair.initramfs]) {
    const file = cacheFile(root, part.file);
    const stat = await fs.lstat(file).catch(() => undefined);
    if (stat && !stat.isFile()) {
      throw cacheUnsafe(
        `cached file ${part.file} of boot pair ${pair.id} is ${describeKind(stat)}, not the regular file ingot wrote: refusing to use it`,
        file,
        `remove it and pull it again with \`ingot pull --boot-set ${pair.set}\``,
      );
    }
    const sidecar = await readRegularFile(`${file}.sha256`);
    if (stat?.size !== part.size || sidecar !== sidecarText(part.sha256, part.file)) return `${part.file} is missing or damaged`;
  }
  return undefined;
}

/**
 * Retention for one slot: keep its newest `keep` pairs and always the one
 * its pointer names; a dropped pair's files go only when nothing else — a
 * kept pair of any slot, a link, an ordinary cached image — still uses them.
 * State first, then files (an orphan file is harmless, a dangling record is not).
 */
export async function applyPairRetention(
  cacheDir: string,
  state: BootState,
  cache: CacheState,
  kernelLink: string,
  keep: number,
  log: Logger,
): Promise<string[]> {
  const { root } = cachePaths(cacheDir);
  const current = await readPointer(cacheDir, kernelLink);
  const drop = slotPairs(state, kernelLink)
    .slice(Math.max(1, keep))
    .filter((p) => p.id !== current);
  if (drop.length === 0) return [];
  const dropped = new Set(drop);
  state.pairs = state.pairs.filter((p) => !dropped.has(p));
  await saveBootState(cacheDir, state);
  const used = new Set([
    ...state.pairs.flatMap((p) => [p.kernel.file, p.initramfs.file]),
    ...cache.entries.map((e) => e.file),
    ...(await readLinks(root)).values(),
  ]);
  const pointed = new Set(await Promise.all(state.pairs.map((p) => readPointer(cacheDir, p.links.kernel))));
  const removed: string[] = [];
  for (const pair of drop) {
    if (!state.pairs.some((p) => p.id === pair.id) && !pointed.has(pair.id)) {
      await fs.rm(path.join(await pairsDir(cacheDir), pairDirName(pair.id)), { recursive: true, force: true });
    }
    for (const file of [pair.kernel.file, pair.initramfs.file]) {
      if (used.has(file) || removed.includes(file)) continue;
      const full = cacheFile(root, file);
      await fs.rm(`${full}.sha256`, { force: true });
      await fs.rm(full, { force: true });
      removed.push(file);
    }
    log.info('removed old boot pair from the cache', { pair: pair.id, kernel: pair.kernel.file, initramfs: pair.initramfs.file });
  }
  return removed;
}
