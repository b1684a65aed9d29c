/**
 * Channels: named pointers per image family ("stable", "canary") stored as
 * `channels/<family>.json`, signed like the index. The history records every
 * move; replaying it per channel ("set" pushes, "rollback" pops) gives each
 * channel a stack, so repeated rollbacks walk further back instead of
 * bouncing between two versions. `sequence` grows with every change so hosts
 * can refuse a replayed older file.
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
}

/** One move of one channel, in the order it happened. */
export interface ChannelHistoryEntry extends ChannelPointer {
  channel: string;
  action: 'set' | 'rollback';
}

/** The document at channels/<family>.json. */
export interface ChannelFile {
  schemaVersion: 1;
  family: string;
  /** Grows by one on every change. */
  sequence: number;
  updatedAt: string;
  channels: Record<string, ChannelPointer>;
  history: ChannelHistoryEntry[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Checks a family or channel name (they become store keys and symlink names). */
export function checkName(kind: 'family' | 'channel', value: string): string {
  if (!NAME.test(value)) {
    throw new IngotError(ErrorCode.usage, `invalid ${kind} name "${value}": expected letters, digits, ".", "_" or "-" (max 64)`, { exitCode: ExitCode.usage });
  }
  return value;
}

/** Store key of a family's channel file. */
export function channelKey(family: string): string {
  return `${CHANNELS_PREFIX}${checkName('family', family)}.json`;
}

/** Parses a verified channel file; throws INGOT_CHANNEL_INVALID. */
export function parseChannelFile(bytes: Buffer, family: string): ChannelFile {
  let data: Partial<ChannelFile>;
  try {
    data = JSON.parse(bytes.toString('utf8')) as Partial<ChannelFile>;
  } catch (error) {
    throw invalid(family, `not JSON: ${(error as Error).message}`);
  }
  if (data?.schemaVersion !== 1) throw invalid(family, 'expected "schemaVersion": 1');
  if (data.family !== family) throw invalid(family, `it describes family "${String(data.family)}"`);
  if (!Number.isSafeInteger(data.sequence) || (data.sequence as number) < 1) throw invalid(family, '"sequence" must be a positive integer');
  if (typeof data.channels !== 'object' || data.channels === null || !Array.isArray(data.history)) throw invalid(family, 'missing "channels" or "history"');
  for (const [name, p] of Object.entries(data.channels)) {
    if (typeof p?.version !== 'string' || typeof p.path !== 'string' || typeof p.checksum !== 'string') throw invalid(family, `channel "${name}" is malformed`);
  }
  return data as ChannelFile;
}

/** The stack of pointers a channel's history replays to (last = current). */
export function channelStack(file: ChannelFile, channel: string): ChannelPointer[] {
  const stack: ChannelPointer[] = [];
  for (const entry of file.history) {
    if (entry.channel !== channel) continue;
    const { channel: _c, action, ...pointer } = entry;
    if (action === 'set') stack.push(pointer);
    else stack.pop();
  }
  return stack;
}

/** The file after pointing `channel` at `target` (pure). */
export function applySet(file: ChannelFile | undefined, family: string, channel: string, target: IndexEntry, now: Date): ChannelFile {
  const pointer: ChannelPointer = { version: target.version ?? '', path: target.path, checksum: target.checksum, setAt: now.toISOString() };
  const base = file ?? { schemaVersion: 1 as const, family, sequence: 0, updatedAt: '', channels: {}, history: [] };
  return {
    ...base,
    sequence: base.sequence + 1,
    updatedAt: pointer.setAt,
    channels: { ...base.channels, [channel]: pointer },
    history: [...base.history, { channel, action: 'set', ...pointer }],
  };
}

/** The file after moving `channel` back to its previous entry (pure). */
export function applyRollback(file: ChannelFile, channel: string, now: Date): ChannelFile {
  const stack = channelStack(file, channel);
  const previous = stack[stack.length - 2];
  if (!previous) {
    throw new IngotError(ErrorCode.usage, `channel "${channel}" of family "${file.family}" has no earlier entry to roll back to`, {
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
    history: [...file.history, { channel, action: 'rollback', ...pointer }],
  };
}

/** Reads and verifies a family's channel file; undefined when the family has none. */
export async function readChannelFile(store: ImageStore, family: string, publicKey: PublicKey, signal?: AbortSignal): Promise<ChannelFile | undefined> {
  const object = await getVerified(store.backend, channelKey(family), publicKey, { signal });
  return object ? parseChannelFile(object.bytes, family) : undefined;
}

/** Reads a channel file without checking its signature (for listing on the publisher's side). */
export async function readChannelFileUnverified(store: ImageStore, family: string, signal?: AbortSignal): Promise<ChannelFile | undefined> {
  const key = channelKey(family);
  const bytes = await store.backend.get(key, signal, { maxBytes: readLimitFor(key) });
  return bytes ? parseChannelFile(bytes, family) : undefined;
}

/** Families that have a channel file in the store. */
export async function listChannelFamilies(store: ImageStore, signal?: AbortSignal): Promise<string[]> {
  const out: string[] = [];
  for await (const info of store.backend.list(CHANNELS_PREFIX, signal)) {
    const m = /^channels\/([^/]+)\.json$/.exec(info.key);
    if (m?.[1]) out.push(m[1]);
  }
  return out.sort();
}

/** What `setChannel` and `rollbackChannel` act on. */
export interface ChannelChangeOptions {
  family: string;
  channel: string;
  log: Logger;
  signal?: AbortSignal;
  now?: Date;
}

/** `ingot channel set`: points a channel at the published image of that family and version. */
export async function setChannel(store: ImageStore, key: SecretKey, options: ChannelChangeOptions & { version: string }): Promise<ChannelFile> {
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
  const next = applySet(current, family, options.channel, matches[0]!, options.now ?? new Date());
  await writeChannelFile(store, key, next, options);
  return next;
}

/** `ingot channel rollback`: moves a channel back to its previous entry. */
export async function rollbackChannel(store: ImageStore, key: SecretKey, options: ChannelChangeOptions): Promise<ChannelFile> {
  const family = checkName('family', options.family);
  const current = await readChannelFile(store, family, key.publicKey, options.signal);
  if (!current) throw new IngotError(ErrorCode.notInIndex, `family "${family}" has no channels in this store`, { exitCode: ExitCode.usage });
  const next = applyRollback(current, options.channel, options.now ?? new Date());
  await writeChannelFile(store, key, next, options);
  return next;
}

async function writeChannelFile(store: ImageStore, key: SecretKey, file: ChannelFile, options: ChannelChangeOptions): Promise<void> {
  await putSigned(store.backend, channelKey(file.family), Buffer.from(`${JSON.stringify(file, null, 2)}\n`), key, {
    now: options.now ?? new Date(),
    extra: { sequence: file.sequence },
    signal: options.signal,
  });
  const pointer = file.channels[options.channel];
  options.log.info('channel moved', { family: file.family, channel: options.channel, version: pointer?.version, sequence: file.sequence });
}

function invalid(family: string, problem: string): IngotError {
  return new IngotError(ErrorCode.channelInvalid, `invalid channel file for family "${family}": ${problem}`, {
    hint: 'the file is signed but malformed; move the channel again with `ingot channel set`',
  });
}
