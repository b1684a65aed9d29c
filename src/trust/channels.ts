/**
 * Channels: named pointers per image family ("stable", "canary") stored as
 * `channels/<family>.json`, signed like the index. The history records every
 * move; replaying it per channel ("set" pushes, "rollback" pops) gives each
 * channel a stack, so repeated rollbacks walk further back instead of
 * bouncing between two versions. `sequence` grows with every change so hosts
 * can refuse a replayed older file.
 *
 * Boot sets have channels too (kind "boot-set"): `channels/boot-sets/<set>.json`,
 * the same document with `"kind": "boot-set"`, whose pointers name immutable
 * signed copies of a boot manifest (src/trust/boot-channels.ts).
 */
import type { Digest } from '../digest/digest.js';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { ImageStore } from '../store/image-store.js';
import { CHANNELS_PREFIX, readLimitFor } from '../store/layout.js';
import { collectEntries, type IndexEntry } from './catalogue.js';
import type { SecretKey } from './keys.js';
import type { PublicKey } from './minisign-format.js';
import { getVerified, putSigned } from './signed-object.js';

/** Where a channel points. */
export interface ChannelPointer {
  version: string;
  path: string;
  checksum: Digest;
  setAt: string;
  /**
   * Canary share in percent (0–100): hosts whose bucket (src/fleet/rollout.ts)
   * is below it take this version, the others stay on the channel's previous
   * entry. Absent = every host (100 %).
   */
  rollout?: number;
}

/** One move of one channel, in the order it happened. */
export interface ChannelHistoryEntry extends ChannelPointer {
  channel: string;
  action: 'set' | 'rollback';
  /** Why the move was made (e.g. the guard's verdict for an automatic rollback). */
  reason?: string;
}

/** What a channel file's channels point into: a family's images, or a boot set's pinned manifests. */
export type ChannelKind = 'family' | 'boot-set';

/** The document at channels/<family>.json (or channels/boot-sets/<set>.json). */
export interface ChannelFile {
  schemaVersion: 1;
  /** Absent for a family's file. */
  kind?: 'boot-set';
  /** The family, or the boot set's name when kind is "boot-set". */
  family: string;
  /** Grows by one on every change. */
  sequence: number;
  updatedAt: string;
  channels: Record<string, ChannelPointer>;
  history: ChannelHistoryEntry[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Checks a family or channel name (they become store keys and symlink names). */
export function checkName(kind: 'family' | 'channel' | 'boot set', value: string): string {
  if (!NAME.test(value)) {
    throw new IngotError(ErrorCode.usage, `invalid ${kind} name "${value}": expected letters, digits, ".", "_" or "-" (max 64)`, { exitCode: ExitCode.usage });
  }
  return value;
}

/** Where boot sets' channel files live (below the families' channel files). */
export const BOOT_SET_CHANNELS_PREFIX = `${CHANNELS_PREFIX}boot-sets/`;

/** Store key of a family's (or a boot set's) channel file. */
export function channelKey(family: string, kind: ChannelKind = 'family'): string {
  if (kind === 'boot-set') return `${BOOT_SET_CHANNELS_PREFIX}${checkName('boot set', family)}.json`;
  return `${CHANNELS_PREFIX}${checkName('family', family)}.json`;
}

/** "family \"x\"" or "boot set \"x\"", for messages. */
export function channelOwner(name: string, kind: ChannelKind = 'family'): string {
  return `${kind === 'boot-set' ? 'boot set' : 'family'} "${name}"`;
}

/** Parses a verified channel file; throws INGOT_CHANNEL_INVALID. */
export function parseChannelFile(bytes: Buffer, family: string, kind: ChannelKind = 'family'): ChannelFile {
  const invalid = (name: string, problem: string) => invalidFile(name, kind, problem);
  let data: Partial<ChannelFile>;
  try {
    data = JSON.parse(bytes.toString('utf8')) as Partial<ChannelFile>;
  } catch (error) {
    throw invalid(family, `not JSON: ${(error as Error).message}`);
  }
  if (data?.schemaVersion !== 1) throw invalid(family, 'expected "schemaVersion": 1');
  // A family's file served as a boot set's (or the reverse) is refused: both are signed, with the same file name.
  if ((data.kind ?? 'family') !== kind) throw invalid(family, `it is a ${String(data.kind ?? 'family')} channel file, not a ${kind} one`);
  if (data.family !== family) throw invalid(family, `it describes ${channelOwner(String(data.family), kind)}`);
  if (!Number.isSafeInteger(data.sequence) || (data.sequence as number) < 1) throw invalid(family, '"sequence" must be a positive integer');
  if (typeof data.channels !== 'object' || data.channels === null || !Array.isArray(data.history)) throw invalid(family, 'missing "channels" or "history"');
  for (const [name, p] of Object.entries(data.channels)) {
    if (typeof p?.version !== 'string' || typeof p.path !== 'string' || typeof p.checksum !== 'string') throw invalid(family, `channel "${name}" is malformed`);
    if (p.rollout !== undefined && !validShare(p.rollout))
      throw invalid(family, `channel "${name}" has rollout ${JSON.stringify(p.rollout)}: expected a share from 0 to 100`);
  }
  for (const [i, h] of data.history.entries()) {
    if (h?.rollout !== undefined && !validShare(h.rollout))
      throw invalid(family, `history[${i}] has rollout ${JSON.stringify(h.rollout)}: expected a share from 0 to 100`);
    if (h?.reason !== undefined && typeof h.reason !== 'string') throw invalid(family, `history[${i}].reason is not a string`);
  }
  return data as ChannelFile;
}

function validShare(n: unknown): boolean {
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 && n <= 100;
}

/**
 * The stack of pointers a channel's history replays to (last = current). A
 * "set" of the image the channel already points at (a rollout share raised)
 * replaces the top instead of pushing: the entry before stays the previous
 * one, where hosts outside the share remain and a rollback returns.
 */
export function channelStack(file: ChannelFile, channel: string): ChannelPointer[] {
  const stack: ChannelPointer[] = [];
  for (const entry of file.history) {
    if (entry.channel !== channel) continue;
    const { channel: _c, action, reason: _r, ...pointer } = entry;
    if (action === 'set') {
      const top = stack[stack.length - 1];
      if (top && top.path === pointer.path && top.checksum === pointer.checksum) stack[stack.length - 1] = pointer;
      else stack.push(pointer);
    } else stack.pop();
  }
  return stack;
}

/** The file after pointing `channel` at `target`, for `rollout` percent of hosts when given (pure). */
export function applySet(
  file: ChannelFile | undefined,
  family: string,
  channel: string,
  target: Pick<IndexEntry, 'version' | 'path' | 'checksum'>,
  now: Date,
  rollout?: number,
  kind: ChannelKind = 'family',
): ChannelFile {
  const pointer: ChannelPointer = {
    version: target.version ?? '',
    path: target.path,
    checksum: target.checksum,
    setAt: now.toISOString(),
    ...(rollout !== undefined && rollout < 100 ? { rollout } : {}),
  };
  const base: ChannelFile = file ?? {
    schemaVersion: 1,
    ...(kind === 'boot-set' ? { kind } : {}),
    family,
    sequence: 0,
    updatedAt: '',
    channels: {},
    history: [],
  };
  return {
    ...base,
    sequence: base.sequence + 1,
    updatedAt: pointer.setAt,
    channels: { ...base.channels, [channel]: pointer },
    history: [...base.history, { channel, action: 'set', ...pointer }],
  };
}

/** The file after moving `channel` back to its previous entry, recording `reason` when given (pure). */
export function applyRollback(file: ChannelFile, channel: string, now: Date, reason?: string): ChannelFile {
  const stack = channelStack(file, channel);
  const previous = stack[stack.length - 2];
  if (!previous) {
    throw new IngotError(ErrorCode.usage, `channel "${channel}" of ${channelOwner(file.family, file.kind)} has no earlier entry to roll back to`, {
      hint: 'use `ingot channel set` to point it at a version explicitly',
      exitCode: ExitCode.usage,
    });
  }
  const pointer = { ...previous, setAt: now.toISOString() };
  return {
    ...file,
    sequence: file.sequence + 1,
    updatedAt: pointer.setAt,
    channels: { ...file.channels, [channel]: pointer },
    history: [...file.history, { channel, action: 'rollback', ...pointer, ...(reason ? { reason } : {}) }],
  };
}

/** Reads and verifies a family's (or boot set's) channel file; undefined when it has none. */
export async function readChannelFile(
  store: ImageStore,
  family: string,
  publicKey: PublicKey,
  signal?: AbortSignal,
  kind: ChannelKind = 'family',
): Promise<ChannelFile | undefined> {
  const object = await getVerified(store.backend, channelKey(family, kind), publicKey, { signal });
  return object ? parseChannelFile(object.bytes, family, kind) : undefined;
}

/** Reads a channel file without checking its signature (for listing on the publisher's side). */
export async function readChannelFileUnverified(
  store: ImageStore,
  family: string,
  signal?: AbortSignal,
  kind: ChannelKind = 'family',
): Promise<ChannelFile | undefined> {
  const key = channelKey(family, kind);
  const bytes = await store.backend.get(key, signal, { maxBytes: readLimitFor(key) });
  return bytes ? parseChannelFile(bytes, family, kind) : undefined;
}

/** Families (or, with kind "boot-set", boot sets) that have a channel file in the store. */
export async function listChannelFamilies(store: ImageStore, signal?: AbortSignal, kind: ChannelKind = 'family'): Promise<string[]> {
  const prefix = kind === 'boot-set' ? BOOT_SET_CHANNELS_PREFIX : CHANNELS_PREFIX;
  const out: string[] = [];
  for await (const info of store.backend.list(prefix, signal)) {
    // Only files directly below the prefix: a family's listing skips channels/boot-sets/….
    const rest = info.key.slice(prefix.length);
    if (info.key.startsWith(prefix) && rest.endsWith('.json') && !rest.includes('/')) out.push(rest.slice(0, -'.json'.length));
  }
  return out.sort();
}

/** What `setChannel` and `rollbackChannel` act on. */
export interface ChannelChangeOptions {
  family: string;
  /** "boot-set": `family` names a boot set (default "family"). */
  kind?: ChannelKind;
  channel: string;
  /** Recorded in the history entry (rollbacks). */
  reason?: string;
  /** Rollback only if the channel still points at this image path (it may have moved since it was judged). */
  expectPath?: string;
  log: Logger;
  signal?: AbortSignal;
  now?: Date;
}

/** `ingot channel set`: points a channel at the published image of that family and version. */
export async function setChannel(
  store: ImageStore,
  key: SecretKey,
  options: ChannelChangeOptions & { version: string; rollout?: number },
): Promise<ChannelFile> {
  const family = checkName('family', options.family);
  checkName('channel', options.channel);
  const entries = (await collectEntries(store, options.log, options.signal)).filter((e) => e.family === family);
  const matches = entries.filter((e) => e.version === options.version || e.path === options.version);
  if (matches.length !== 1) {
    const known = [...new Set(entries.map((e) => e.version).filter(Boolean))].join(', ') || 'none';
    throw new IngotError(
      ErrorCode.notInIndex,
      matches.length === 0
        ? `no published image of family "${family}" has version "${options.version}"`
        : `${matches.length} published images of family "${family}" have version "${options.version}"; name one by its path`,
      { hint: `versions published for "${family}": ${known}`, exitCode: ExitCode.usage },
    );
  }
  const current = await readChannelFile(store, family, key.publicKey, options.signal);
  const next = applySet(current, family, options.channel, matches[0]!, options.now ?? new Date(), options.rollout);
  await writeChannelFile(store, key, next, options);
  return next;
}

/** `ingot channel rollback`: moves a channel back to its previous entry. */
export async function rollbackChannel(store: ImageStore, key: SecretKey, options: ChannelChangeOptions): Promise<ChannelFile> {
  const kind = options.kind ?? 'family';
  const family = checkName(kind === 'boot-set' ? 'boot set' : 'family', options.family);
  const current = await readChannelFile(store, family, key.publicKey, options.signal, kind);
  if (!current) throw new IngotError(ErrorCode.notInIndex, `${channelOwner(family, kind)} has no channels in this store`, { exitCode: ExitCode.usage });
  const now = current.channels[options.channel];
  if (options.expectPath !== undefined && now?.path !== options.expectPath) {
    throw new IngotError(
      ErrorCode.storeChanged,
      `channel ${family}/${options.channel} moved meanwhile: it points at ${now?.path ?? 'nothing'}, not ${options.expectPath}`,
      {
        hint: 'nothing was rolled back; judge the channel again',
      },
    );
  }
  const next = applyRollback(current, options.channel, options.now ?? new Date(), options.reason);
  await writeChannelFile(store, key, next, options);
  return next;
}

/** Signs and writes a channel file at its key (by its kind). */
export async function writeChannelFile(store: ImageStore, key: SecretKey, file: ChannelFile, options: ChannelChangeOptions): Promise<void> {
  await putSigned(store.backend, channelKey(file.family, file.kind ?? 'family'), Buffer.from(`${JSON.stringify(file, null, 2)}\n`), key, {
    now: options.now ?? new Date(),
    extra: { sequence: file.sequence },
    signal: options.signal,
  });
  const pointer = file.channels[options.channel];
  options.log.info('channel moved', {
    [file.kind === 'boot-set' ? 'bootSet' : 'family']: file.family,
    channel: options.channel,
    version: pointer?.version,
    sequence: file.sequence,
  });
}

function invalidFile(family: string, kind: ChannelKind, problem: string): IngotError {
  return new IngotError(ErrorCode.channelInvalid, `invalid channel file for ${channelOwner(family, kind)}: ${problem}`, {
    hint: 'the file is signed but malformed; move the channel again with `ingot channel set`',
  });
}
