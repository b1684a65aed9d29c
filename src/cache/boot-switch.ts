/**
 * Host-side choices among cached boot pairs, nothing downloaded: `cache
 * rollback --boot-set` (the pair pulled before the current one), `cache use
 * --boot-set`, the pairs in `cache list`, and `cache advertise` — the
 * advertisement the guest-init document has host agents send:
 *
 *     { "kernel_versions": ["6.1.50-20251217a", "6.1.45-20251201a"],
 *       "guest_init_protocols": [1],
 *       "current_default": { "kernel": "6.1.50-20251217a", "initramfs": "guestinit-1.0.0-20251217a" } }
 */
import * as fs from 'node:fs/promises';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import {
  checkPairLinks,
  initramfsLabel,
  kernelLabel,
  loadBootState,
  pairFilesProblem,
  pairProblem,
  readPointer,
  repairSlots,
  slotPairs,
  switchPair,
  type BootPair,
  type BootState,
} from './boot-pairs.js';
import type { HostFacts } from './compat.js';
import { cachePaths } from './layout.js';
import { lockCache } from './lock.js';

/** Which slot: by boot set name, by kernel link, or the cache's only one. */
export interface SlotChoice {
  set?: string;
  kernelLink?: string;
}

export interface BootSwitchOptions extends SlotChoice {
  host?: HostFacts;
  log: Logger;
  signal?: AbortSignal;
  lockTimeoutMs?: number;
}

/** Where a slot points now, and before. */
export interface BootSwitchResult {
  set: string;
  pair: string;
  kernel: { file: string; label: string; link: string };
  initramfs: { file: string; label: string; link: string };
  previous?: string;
}

/** One pair in a listing. */
export interface BootPairListing {
  id: string;
  set: string;
  current: boolean;
  kernel: { file: string; label: string; version: string; buildId: string; sha256: string; size: number };
  initramfs: { file: string; label: string; guestInitVersion: string; guestInitProtocol: number; buildId: string; sha256: string; size: number };
  compatibility: BootPair['compatibility'];
  pulledAt: string;
  store: string;
}

/** One slot in a listing: its two links, the pair its pointer names, its pairs newest first. */
export interface BootSlotListing {
  links: BootPair['links'];
  /** The current pair's boot set (else the newest pair's). */
  set: string;
  current?: string;
  /** false while a switch is under way, or after one was interrupted (the next boot command completes it). */
  consistent: boolean;
  pairs: BootPairListing[];
}

/** The document's advertisement. */
export interface Advertisement {
  kernel_versions: string[];
  guest_init_protocols: number[];
  current_default: { kernel: string; initramfs: string } | null;
}

/** Points the slot back at the pair pulled before its current one. */
export async function rollbackBootPair(cacheDir: string, options: BootSwitchOptions): Promise<BootSwitchResult> {
  return withBootLock(cacheDir, options, 'ingot cache rollback --boot-set', async (boot, kernelLink, current) => {
    const pairs = slotPairs(boot, kernelLink);
    const at = pairs.findIndex((p) => p.id === current);
    if (at < 0) throw new IngotError(ErrorCode.cacheNotFound, `${kernelLink} does not point at a cached boot pair`, { exitCode: ExitCode.usage });
    const older = pairs[at + 1];
    if (!older) {
      throw new IngotError(
        ErrorCode.cacheNotFound,
        `no boot pair older than ${kernelLabel(pairs[at]!)} + ${initramfsLabel(pairs[at]!)} is cached for ${kernelLink}`,
        {
          hint: 'pull the pair you want with `ingot pull --boot-set NAME`, then `ingot cache use --boot-set NAME VERSION`',
          exitCode: ExitCode.usage,
        },
      );
    }
    return older;
  });
}

/** Points the slot at a cached pair: by pair id, kernel label ("6.1.50-20251217a"), initramfs label or file name. */
export async function useBootPair(cacheDir: string, which: string, options: BootSwitchOptions): Promise<BootSwitchResult> {
  return withBootLock(cacheDir, options, 'ingot cache use --boot-set', async (boot, kernelLink) => {
    const pairs = slotPairs(boot, kernelLink);
    const matches = pairs.filter((p) =>
      [p.id, kernelLabel(p), initramfsLabel(p), p.kernel.file, p.initramfs.file, p.initramfs.guestInitVersion].includes(which),
    );
    if (matches.length === 1) return matches[0]!;
    throw new IngotError(
      ErrorCode.cacheNotFound,
      matches.length === 0 ? `no cached boot pair matches "${which}"` : `"${which}" matches ${matches.length} cached pairs`,
      {
        hint: `cached pairs: ${pairs.map((p) => `${p.id} (${kernelLabel(p)} + ${initramfsLabel(p)})`).join(', ') || 'none'}${matches.length > 1 ? '; pass the pair id' : ''}`,
        exitCode: ExitCode.usage,
      },
    );
  });
}

/** Every slot and its pairs. */
export async function listBootPairs(cacheDir: string): Promise<BootSlotListing[]> {
  const { root } = cachePaths(cacheDir);
  const boot = await loadBootState(root);
  const out: BootSlotListing[] = [];
  for (const kernelLink of [...new Set(boot.pairs.map((p) => p.links.kernel))].sort()) {
    const pairs = slotPairs(boot, kernelLink);
    const { pair, consistent } = await checkPairLinks(root, boot, kernelLink);
    out.push({
      links: pairs[0]!.links,
      set: (pair ?? pairs[0]!).set,
      ...(pair ? { current: pair.id } : {}),
      consistent,
      pairs: pairs.map((p) => listing(p, p.id === pair?.id)),
    });
  }
  return out;
}

/**
 * The advertisement: the cached kernels this host can boot (newest pull
 * first), the protocols it speaks (its facts, else those of its cached
 * initramfs images) and the pair its slot points at.
 */
export async function advertise(cacheDir: string, options: SlotChoice & { host?: HostFacts }): Promise<Advertisement> {
  const { root } = cachePaths(cacheDir);
  await requireCache(root);
  const boot = await loadBootState(root);
  const host = options.host ?? {};
  const usable = [...boot.pairs]
    .filter((p) => (options.set === undefined || p.set === options.set) && pairProblem(p, host) === undefined)
    .sort((a, b) => (a.pulledAt < b.pulledAt ? 1 : a.pulledAt > b.pulledAt ? -1 : 0));
  const protocols = host.protocols?.length ? host.protocols : usable.map((p) => p.initramfs.guestInitProtocol);
  let current: BootPair | undefined;
  if (boot.pairs.length > 0) {
    const kernelLink = pickSlot(boot, options);
    const id = await readPointer(root, kernelLink);
    current = slotPairs(boot, kernelLink).find((p) => p.id === id);
  }
  return {
    kernel_versions: [...new Set(usable.map(kernelLabel))],
    guest_init_protocols: [...new Set(protocols)].sort((a, b) => a - b),
    current_default: current ? { kernel: kernelLabel(current), initramfs: initramfsLabel(current) } : null,
  };
}

function listing(p: BootPair, current: boolean): BootPairListing {
  return {
    id: p.id,
    set: p.set,
    current,
    kernel: { file: p.kernel.file, label: kernelLabel(p), version: p.kernel.version, buildId: p.kernel.buildId, sha256: p.kernel.sha256, size: p.kernel.size },
    initramfs: {
      file: p.initramfs.file,
      label: initramfsLabel(p),
      guestInitVersion: p.initramfs.guestInitVersion,
      guestInitProtocol: p.initramfs.guestInitProtocol,
      buildId: p.initramfs.buildId,
      sha256: p.initramfs.sha256,
      size: p.initramfs.size,
    },
    compatibility: p.compatibility,
    pulledAt: p.pulledAt,
    store: p.store,
  };
}

/** The slot a command means: --kernel-link, else the slot of --boot-set, else the only one. */
export function pickSlot(boot: BootState, choice: SlotChoice): string {
  const slots = [...new Set(boot.pairs.filter((p) => choice.set === undefined || p.set === choice.set).map((p) => p.links.kernel))];
  if (choice.kernelLink !== undefined) {
    if (!boot.pairs.some((p) => p.links.kernel === choice.kernelLink)) {
      throw new IngotError(ErrorCode.cacheNotFound, `no boot pair is switched through ${choice.kernelLink} in this cache`, { exitCode: ExitCode.usage });
    }
    return choice.kernelLink;
  }
  if (slots.length === 1) return slots[0]!;
  if (slots.length === 0) {
    throw new IngotError(ErrorCode.cacheNotFound, choice.set ? `no boot pair of boot set "${choice.set}" is cached` : 'no boot pairs are cached', {
      hint: 'pull one with `ingot pull --boot-set NAME`',
      exitCode: ExitCode.usage,
    });
  }
  throw new IngotError(ErrorCode.usage, `boot pairs are switched through several links (${slots.join(', ')}); pass --kernel-link`, {
    exitCode: ExitCode.usage,
  });
}

async function withBootLock(
  cacheDir: string,
  options: BootSwitchOptions,
  owner: string,
  choose: (boot: BootState, kernelLink: string, current: string | undefined) => Promise<BootPair>,
): Promise<BootSwitchResult> {
  const { root } = cachePaths(cacheDir);
  await requireCache(root);
  const lock = await lockCache(root, { owner, timeoutMs: options.lockTimeoutMs ?? 60_000, signal: options.signal });
  try {
    const boot = await loadBootState(root);
    await repairSlots(root, boot, options.log);
    const kernelLink = pickSlot(boot, options);
    const current = await readPointer(root, kernelLink);
    const target = await choose(boot, kernelLink, current);
    const problem = pairProblem(target, options.host ?? {});
    if (problem) {
      throw new IngotError(ErrorCode.incompatible, `boot pair ${kernelLabel(target)} + ${initramfsLabel(target)} cannot run on this host: ${problem}`, {
        exitCode: ExitCode.failed,
      });
    }
    const damaged = await pairFilesProblem(root, target);
    if (damaged) {
      throw new IngotError(ErrorCode.cacheNotFound, `cached boot pair ${target.id}: ${damaged}`, {
        hint: `pull it again with \`ingot pull --boot-set ${target.set}\``,
      });
    }
    await switchPair(root, target, options.log);
    return {
      set: target.set,
      pair: target.id,
      kernel: { file: target.kernel.file, label: kernelLabel(target), link: target.links.kernel },
      initramfs: { file: target.initramfs.file, label: initramfsLabel(target), link: target.links.initramfs },
      ...(current !== undefined && current !== target.id ? { previous: current } : {}),
    };
  } finally {
    await lock.release();
  }
}

async function requireCache(root: string): Promise<void> {
  const stat = await fs.stat(root).catch(() => undefined);
  if (!stat?.isDirectory())
    throw new IngotError(ErrorCode.cacheNotFound, `no cache at ${root}`, {
      hint: 'pull something into it first with `ingot pull … --to DIR`',
      exitCode: ExitCode.usage,
    });
}
