/**
 * Sharding for CI matrices: `--shard I/N` gives job I (1-based) of N the
 * images whose name hashes to it. The hash of the name alone decides, so a
 * shard's images do not move when others are added or removed, and every
 * job computes the same split without talking to the others.
 */
import { createHash } from 'node:crypto';
import { UsageError } from '../errors.js';

/** One shard of a matrix: index is 1-based. */
export interface Shard {
  index: number;
  count: number;
}

const MAX_SHARDS = 1000;

/** Parses "I/N" (1 ≤ I ≤ N); throws a UsageError saying what was expected. */
export function parseShard(text: string): Shard {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!match) throw new UsageError(`invalid --shard "${text}": expected I/N, for example 1/4`, { hint: 'I is the 1-based job number, N the number of jobs' });
  const index = Number(match[1]);
  const count = Number(match[2]);
  if (count < 1 || count > MAX_SHARDS) throw new UsageError(`invalid --shard "${text}": expected N between 1 and ${MAX_SHARDS}, got ${count}`);
  if (index < 1 || index > count)
    throw new UsageError(`invalid --shard "${text}": expected I between 1 and ${count}, got ${index}`, { hint: 'shards are numbered from 1' });
  return { index, count };
}

/** Which shard (1-based) a name belongs to among `count`. */
export function shardOf(name: string, count: number): number {
  const digest = createHash('sha256').update(name, 'utf8').digest();
  // 48 bits of the digest, exact in a double; modulo bias is negligible for count ≤ 1000.
  return (digest.readUIntBE(0, 6) % count) + 1;
}

/** The items of shard `index` (1-based) of `count`, in their original order. */
export function selectShard<T extends { name: string }>(items: T[], index: number, count: number): T[] {
  if (!Number.isInteger(count) || count < 1) throw new UsageError(`invalid shard count ${count}: expected an integer ≥ 1`);
  if (!Number.isInteger(index) || index < 1 || index > count) {
    throw new UsageError(`invalid shard index ${index}: expected 1…${count}`);
  }
  return items.filter((item) => shardOf(item.name, count) === index);
}
