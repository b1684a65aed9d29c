/**
 * Copying one image between stores in one verified pass:
 *
 *   source stream ─► size cap ─► sha256 (+ the metadata's algorithm) ─► destination upload
 *
 * then size and digests are compared with what the metadata (and, with a
 * key, the signed index) says, and only then is the upload committed with
 * the metadata's exact bytes written last. Bytes that do not match are never
 * committed. Where the destination keeps interrupted writes (a directory
 * store), a copy that was cut off resumes: the bytes already there are hashed
 * again, the rest is read with a ranged request from where they end.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digestAlgorithm, digestProblem, type Algorithm, type Digest } from '../digest/digest.js';
import { ErrorCode, IngotError } from '../errors.js';
import type { StoreBackend, Upload } from '../store/backend.js';
import type { ImageStore } from '../store/image-store.js';
import { readRange } from '../store/ranges.js';
import { CapStream } from '../transform/decompress.js';
import type { ImageDoc } from './inventory.js';

/** Progress and cancellation for one copy. */
export interface CopyOptions {
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
}

/** What a copy did. */
export interface CopyResult {
  /** Bytes read from the source in this run. */
  bytes: number;
  /** Bytes found from an interrupted earlier run (0 = copied from the start). */
  resumedFrom: number;
}

/** Copies `doc`'s image from `source` into `dest`, verified; commits bytes, then metadata. */
export async function copyImage(source: StoreBackend, dest: ImageStore, doc: ImageDoc, options: CopyOptions = {}): Promise<CopyResult> {
  const m = doc.metadata;
  const expected: Digest[] = [m.checksum, ...(typeof m.sha256 === 'string' && !digestProblem(m.sha256) && m.sha256 !== m.checksum ? [m.sha256] : [])];
  const hashes = new Map<Algorithm, Hash>(expected.map((d) => [digestAlgorithm(d), createHash(digestAlgorithm(d))]));
  // The id ties kept bytes to this version of this key: another version never resumes from them.
  const id = createHash('sha256').update(`${m.key}\0${m.checksum}\0${m.size}`).digest('hex').slice(0, 32);
  let upload: Upload;
  let resumable = dest.backend.resumableUpload ? await dest.backend.resumableUpload(m.key, id, { sizeHint: m.size }) : undefined;
  let offset = 0;
  if (resumable && resumable.offset > m.size) {
    await resumable.abort(); // more bytes than the image has: not ours to continue
    resumable = await dest.backend.resumableUpload!(m.key, id, { sizeHint: m.size });
  }
  if (resumable) {
    upload = resumable;
    if (resumable.offset > 0) {
      for await (const chunk of await resumable.existing()) {
        for (const h of hashes.values()) h.update(chunk as Buffer);
        offset += (chunk as Buffer).length;
      }
      if (offset !== resumable.offset) {
        await resumable.abort();
        throw new IngotError(ErrorCode.storeIo, `the kept partial copy of ${m.key} changed while it was read back`, { path: m.key, hint: 're-run the mirror' });
      }
    }
  } else {
    upload = await dest.beginImage(m.key, { sizeHint: m.size, ...(options.signal ? { signal: options.signal } : {}) });
  }

  let read = 0;
  try {
    const body =
      offset === 0
        ? await source.read(m.key, options.signal)
        : await readRange(source, m.key, { start: offset }, options.signal ? { signal: options.signal } : {});
    const tap = new Transform({
      highWaterMark: 1 << 20,
      transform(chunk: Buffer, _encoding, callback) {
        for (const h of hashes.values()) h.update(chunk);
        read += chunk.length;
        options.onBytes?.(chunk.length);
        callback(null, chunk);
      },
    });
    const cap = new CapStream(m.size - offset, m.key, 'size', () => sizeError(doc, `more than ${m.size} bytes`));
    await pipeline(body, cap, tap, upload.writable, ...(options.signal ? [{ signal: options.signal }] : []));
    if (offset + read !== m.size) throw sizeError(doc, `${offset + read} bytes`);
    for (const digest of expected) {
      const actual = `${digestAlgorithm(digest)}:${hashes.get(digestAlgorithm(digest))!.digest('hex')}`;
      if (actual !== digest) {
        throw new IngotError(ErrorCode.digestMismatch, `digest mismatch: ${m.key} at the source`, {
          image: m.name,
          path: m.key,
          expected: digest,
          actual,
          hint: 'the source bytes are not the ones its metadata records (tampered, or damaged); they were not copied',
        });
      }
    }
  } catch (error) {
    const code = (error as IngotError).code;
    // Bytes proven wrong are discarded; bytes cut off by a failure or Ctrl-C are kept for the next run.
    if (resumable && code !== ErrorCode.digestMismatch && code !== ErrorCode.sizeMismatch) await resumable.suspend();
    else await upload.abort();
    throw error;
  }
  await dest.commitImageBytes(upload, m, doc.bytes, options.signal);
  return { bytes: read, resumedFrom: offset };
}

function sizeError(doc: ImageDoc, actual: string): IngotError {
  return new IngotError(ErrorCode.sizeMismatch, `size mismatch: ${doc.metadata.key} at the source`, {
    image: doc.metadata.name,
    path: doc.metadata.key,
    expected: String(doc.metadata.size),
    actual,
    hint: 'the source bytes are not the ones its metadata records; they were not copied',
  });
}
