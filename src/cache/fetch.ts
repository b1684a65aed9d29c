/**
 * Downloading one image into the cache in a single pass: store stream →
 * size cap + hashes → temp file; fsync; compare with the signed index; rename
 * to the final name. Bytes that differ from the index in digest or size
 * (including bytes of another publish: mix-and-match) never get a final name.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { finished, pipeline } from 'node:stream/promises';
import { digestAlgorithm, type Algorithm } from '../digest/digest.js';
import { HashingStream } from '../digest/hashing.js';
import { ErrorCode, IngotError } from '../errors.js';
import type { StoreBackend } from '../store/backend.js';
import type { IndexEntry } from '../trust/catalogue.js';
import { cacheIo, cachePaths, ensureStateDirs, syncDir } from './layout.js';
import { CapStream } from '../transform/decompress.js';
import { durableWriteStream } from '../util/durable-write.js';

/** Cancellation and progress for one download. */
export interface FetchOptions {
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
}

/** Streams `entry` from the store into `<cache>/<file>`, verified against the index. */
export async function fetchVerified(backend: StoreBackend, entry: IndexEntry, cacheDir: string, file: string, options: FetchOptions = {}): Promise<void> {
  const { root, tmp } = cachePaths(cacheDir);
  await ensureStateDirs(root, { tmp: true });
  const temp = path.join(tmp, `${randomBytes(6).toString('hex')}-${file}`);
  const algorithms = new Set<Algorithm>(['sha256', digestAlgorithm(entry.checksum)]);
  const hashing = new HashingStream(algorithms, options.onBytes);
  const handle = await fs.open(temp, 'wx', 0o644);
  // The stream owns the FileHandle (not its number): it flushes and closes it once, when it ends or fails,
  // so the descriptor is never closed twice (a second close could hit a concurrent open's reused number).
  const out = durableWriteStream(handle);
  try {
    const source = await backend.read(entry.key, options.signal);
    await pipeline(
      source,
      new CapStream(
        entry.size,
        entry.path,
        'size',
        (limit) =>
          new IngotError(ErrorCode.sizeMismatch, `size mismatch: ${entry.path} is larger than the signed index says`, {
            expected: String(limit),
            actual: `> ${limit}`,
            hint: 'the stored bytes are not the ones the signed index lists; they were not cached',
            image: entry.name,
          }),
      ),
      hashing,
      out,
      {
        signal: options.signal,
      },
    );
    if (hashing.bytes !== entry.size) {
      throw new IngotError(ErrorCode.sizeMismatch, `size mismatch: ${entry.path}`, {
        hint: 'the stored bytes are not the ones the signed index lists; do not use them and re-publish',
        expected: String(entry.size),
        actual: String(hashing.bytes),
        image: entry.name,
      });
    }
    for (const [field, digest] of [
      ['sha256', entry.sha256],
      ['checksum', entry.checksum],
    ] as const) {
      const actual = hashing.digest(digestAlgorithm(digest));
      if (actual !== digest) {
        throw new IngotError(ErrorCode.digestMismatch, `digest mismatch: ${entry.path} (${field})`, {
          hint: 'the stored bytes differ from what the signed index lists (tampered, or from another publish); they were not cached',
          expected: digest,
          actual,
          image: entry.name,
        });
      }
    }
    if (!out.closed) await finished(out);
    await fs.rename(temp, path.join(root, file)).catch((error: unknown) => {
      throw cacheIo(`move the verified download into place as ${path.join(root, file)}`, error);
    });
    await syncDir(root);
  } catch (error) {
    if (!out.closed) {
      out.destroy();
      await finished(out).catch(() => undefined);
    }
    await handle.close().catch(() => undefined);
    await fs.rm(temp, { force: true });
    throw error;
  }
}

/** Removes downloads left by killed pulls (call with the cache lock held). */
export async function clearTemporary(cacheDir: string): Promise<void> {
  const { tmp, root } = cachePaths(cacheDir);
  // Never through a planted symlink: .ingot itself must be ours (rm removes a symlinked tmp, not its target).
  await ensureStateDirs(root);
  await fs.rm(tmp, { recursive: true, force: true });
  for (const name of await fs.readdir(root).catch(() => [] as string[])) {
    if (name.startsWith('.ingot-tmp-')) await fs.rm(path.join(root, name), { force: true });
  }
}
