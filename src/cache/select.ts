/**
 * Which image a pull means. The target is an image path, an image name, or a
 * family; with `--channel` it is a family resolved through its signed
 * channel file. Every candidate comes from the verified index, and the host's
 * compatibility facts are applied before anything is chosen.
 */
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import type { ImageStore } from '../store/image-store.js';
import type { Index, IndexEntry } from '../trust/catalogue.js';
import { channelOwner, channelStack, checkName, readChannelFile, type ChannelFile, type ChannelKind, type ChannelPointer } from '../trust/channels.js';
import { rolloutBucket, takesNew } from '../fleet/rollout.js';
import type { PublicKey } from '../trust/minisign-format.js';
import { compareVersions, compatibilityProblem, type HostFacts } from './compat.js';

/** The chosen image and how it was found. */
export interface Selection {
  entry: IndexEntry;
  /** Family for the link and retention ("" = none). */
  family: string;
  via: 'path' | 'name' | 'family' | 'channel';
  /** Channel family and file sequence, when resolved through a channel. */
  channel?: { family: string; sequence: number };
  /** Set when the channel entry is rolled out to a share of hosts. */
  rollout?: RolloutChoice;
}

/** How a host decided on a canary entry. */
export interface RolloutChoice {
  /** The entry's share, percent. */
  share: number;
  /** This host's bucket in [0, 100). */
  bucket: number;
  /** "new": the entry's version; "previous": the channel's entry before it. */
  chosen: 'new' | 'previous';
  /** The entry's version (the new one), whatever was chosen. */
  version: string;
}

/** Inputs of `selectImage`. */
export interface SelectOptions {
  target: string;
  /** Overrides the image's own family for the link and retention. */
  family?: string;
  channel?: string;
  /** This host's stable id (asked for only for a canary entry). */
  hostId?: () => Promise<string>;
  host: HostFacts;
  store: ImageStore;
  publicKey: PublicKey;
  /** Highest channel sequence this cache accepted for the family, if any. */
  lastChannelSequence?: (family: string) => number | undefined;
  allowRollback?: boolean;
  signal?: AbortSignal;
}

/** Resolves the pull target against a verified index. */
export async function selectImage(index: Index, options: SelectOptions): Promise<Selection> {
  if (options.channel !== undefined) return selectByChannel(index, options);
  const byPath = index.images.find((e) => e.path === options.target);
  const byName = byPath ? undefined : index.images.filter((e) => e.name === options.target);
  if (byName && byName.length > 1) {
    throw new IngotError(ErrorCode.notInIndex, `"${options.target}" names ${byName.length} images; pull one by its path`, {
      hint: `paths: ${byName.map((e) => e.path).join(', ')}`,
      exitCode: ExitCode.usage,
    });
  }
  // The family names a symlink in the cache: never let it leave the cache directory.
  if (options.family !== undefined) checkName('family', options.family);
  const direct = byPath ?? byName?.[0];
  if (direct) {
    requireCompatible(index, direct, options.host);
    return { entry: direct, family: options.family ?? direct.family ?? '', via: byPath ? 'path' : 'name' };
  }
  const members = index.images.filter((e) => e.family === options.target);
  if (members.length === 0) {
    throw new IngotError(ErrorCode.notInIndex, `"${options.target}" is not an image path, name or family in the signed index`, {
      hint: 'run `ingot list --store URL` to see what is published',
      exitCode: ExitCode.usage,
    });
  }
  const newest = newestCompatible(members, options.host);
  if (!newest) {
    throw new IngotError(ErrorCode.incompatible, `no version of family "${options.target}" is compatible with this host`, {
      hint: members.map((e) => `${e.version ?? e.path}: ${compatibilityProblem(e.compatibility, options.host)}`).join('; '),
    });
  }
  return { entry: newest, family: options.family ?? options.target, via: 'family' };
}

async function selectByChannel(index: Index, options: SelectOptions): Promise<Selection> {
  const family = checkName('family', options.target);
  const channel = checkName('channel', options.channel!);
  const { file, pointer, rollout } = await resolveChannel({
    ...options,
    name: family,
    kind: 'family',
    channel,
    lastSequence: options.lastChannelSequence?.(family),
  });
  const entry = index.images.find((e) => e.path === pointer.path);
  if (!entry) {
    throw new IngotError(ErrorCode.notInIndex, `channel ${family}/${channel} points at ${pointer.path}, which the signed index does not list`, {
      hint: 're-sign the index after publishing, or move the channel to a published version',
    });
  }
  if (entry.checksum !== pointer.checksum) {
    throw new IngotError(ErrorCode.digestMismatch, `channel ${family}/${channel} and the index disagree about ${pointer.path}`, {
      hint: 'the channel points at other bytes than the index lists (mix-and-match); move the channel again with `ingot channel set`',
      expected: pointer.checksum,
      actual: entry.checksum,
    });
  }
  const problem = compatibilityProblem(entry.compatibility, options.host);
  if (problem) {
    const members = index.images.filter((e) => e.family === family);
    const alternative = newestCompatible(members, options.host);
    throw new IngotError(
      ErrorCode.incompatible,
      `channel ${family}/${channel} points at ${pointer.version || pointer.path}, which this host cannot run: ${problem}`,
      {
        hint: alternative
          ? `the newest compatible version is ${alternative.version ?? alternative.path}: pull it with \`ingot pull ${alternative.path}\``
          : `no published version of "${family}" is compatible with this host`,
        image: entry.name,
        details: alternative ? { newestCompatible: alternative.version ?? alternative.path } : undefined,
      },
    );
  }
  return { entry, family: options.family ?? family, via: 'channel', channel: { family, sequence: file.sequence }, ...(rollout ? { rollout } : {}) };
}

/** What `resolveChannel` needs: the channel file's owner and kind, and this cache's sequence floor for it. */
export interface ResolveChannelOptions {
  store: ImageStore;
  publicKey: PublicKey;
  name: string;
  kind: ChannelKind;
  channel: string;
  lastSequence: number | undefined;
  hostId?: () => Promise<string>;
  allowRollback?: boolean;
  signal?: AbortSignal;
}

/**
 * Reads and verifies a channel file (a family's or a boot set's), refuses one
 * older than this cache accepted (its sequence), and picks the pointer this
 * host follows: the channel's entry, or for a canary outside its share, the
 * entry before it.
 */
export async function resolveChannel(options: ResolveChannelOptions): Promise<{ file: ChannelFile; pointer: ChannelPointer; rollout?: RolloutChoice }> {
  const { name, kind, channel } = options;
  const owner = channelOwner(name, kind);
  const file = await readChannelFile(options.store, name, options.publicKey, options.signal, kind);
  if (!file) throw new IngotError(ErrorCode.notInIndex, `${owner} has no channels in this store`, { exitCode: ExitCode.usage });
  const last = options.lastSequence;
  if (last !== undefined && file.sequence < last && !options.allowRollback) {
    throw new IngotError(ErrorCode.channelRollback, `channel file for ${owner} went back: sequence ${file.sequence}, this cache already accepted ${last}`, {
      hint: 'someone may be replaying an old channel file; if a publisher really restored an older one, re-run with --allow-rollback',
      expected: `>= ${last}`,
      actual: String(file.sequence),
    });
  }
  const current = file.channels[channel];
  if (!current) {
    throw new IngotError(ErrorCode.notInIndex, `${owner} has no channel "${channel}"`, {
      hint: `channels: ${Object.keys(file.channels).join(', ') || 'none'}`,
      exitCode: ExitCode.usage,
    });
  }
  // A boot set's buckets are its own: the same host may be in a family's canary and not in a boot set's.
  const { pointer, rollout } = await rolloutTarget(file, kind === 'boot-set' ? `boot-set:${name}` : name, channel, current, options.hostId);
  return { file, pointer, ...(rollout ? { rollout } : {}) };
}

async function rolloutTarget(
  file: ChannelFile,
  family: string,
  channel: string,
  current: ChannelPointer,
  hostId: (() => Promise<string>) | undefined,
): Promise<{ pointer: ChannelPointer; rollout?: RolloutChoice }> {
  if (current.rollout === undefined || current.rollout >= 100) return { pointer: current };
  const stack = channelStack(file, channel);
  const previous = stack[stack.length - 2];
  if (!hostId)
    throw new IngotError(ErrorCode.usage, `channel ${family}/${channel} is rolled out to ${current.rollout} % of hosts and no host id was given`, {
      exitCode: ExitCode.usage,
      hint: 'pass --host-id ID',
    });
  const version = current.version || current.path;
  const bucket = rolloutBucket(await hostId(), family, channel, version);
  // With no earlier entry there is nothing else to stay on: every host takes the only version.
  const chosen = takesNew(bucket, current.rollout) || !previous ? 'new' : 'previous';
  return { pointer: chosen === 'new' ? current : previous!, rollout: { share: current.rollout, bucket, chosen, version } };
}

function requireCompatible(index: Index, entry: IndexEntry, host: HostFacts): void {
  const problem = compatibilityProblem(entry.compatibility, host);
  if (!problem) return;
  const alternative = entry.family
    ? newestCompatible(
        index.images.filter((e) => e.family === entry.family),
        host,
      )
    : undefined;
  throw new IngotError(ErrorCode.incompatible, `${entry.path} is not compatible with this host: ${problem}`, {
    hint: alternative ? `the newest compatible version of "${entry.family}" is ${alternative.version ?? alternative.path}` : 'pick another image',
    image: entry.name,
  });
}

/** The newest compatible member of a family (by version, then upload time). */
export function newestCompatible(members: IndexEntry[], host: HostFacts): IndexEntry | undefined {
  return members
    .filter((e) => !compatibilityProblem(e.compatibility, host))
    .sort((a, b) => compareVersions(b.version ?? '', a.version ?? '') || (b.uploadedAt ?? '').localeCompare(a.uploadedAt ?? ''))[0];
}
