/**
 * Acquire → verify → publish for one image, in one streaming pass:
 *
 *   source bytes ─► hash (source checksum) ─► decompress ─► cap ─► hash (expected, sha256) ─► store upload
 *
 * Into a directory store, a native decompressor (xz, zstd) writes the store's
 * temporary file itself and the cap and hashes read it back behind it
 * (src/transform/decompress-to-file.ts): one copy of the output instead of
 * three.
 *
 * Nothing becomes visible until both digests have been checked: the upload is
 * committed only then (rename / CompleteMultipartUpload) and aborted on any
 * failure, and metadata is written last.
 */
import type { Duplex, Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { AcquireContext, SourceFingerprint, SourceStream } from '../acquire/source.js';
import { formatDigest, type Algorithm, type Digest } from '../digest/digest.js';
import { Digests, HashingStream, type Digested } from '../digest/hashing.js';
import { CoalesceStream } from '../transform/coalesce.js';
import { ErrorCode, IngotError } from '../errors.js';
import type { ProgressReporter } from '../log/progress.js';
import type { Image } from '../manifest/types.js';
import type { ImageStore } from '../store/image-store.js';
import type { ImageMetadata } from '../store/metadata.js';
import { CapStream, capError, decompressor, type DecompressorPreference } from '../transform/decompress.js';
import { decompressIntoFile } from '../transform/decompress-to-file.js';

export interface PublishOptions {
  store: ImageStore;
  image: Image;
  acquire: AcquireContext;
  progress: ProgressReporter;
  decompressor: DecompressorPreference;
  fingerprint?: SourceFingerprint;
  now?: () => Date;
}

export interface Published {
  metadata: ImageMetadata;
  /** Bytes read from the source (compressed size). */
  sourceBytes: number;
}

export async function publishImage(options: PublishOptions): Promise<Published> {
  const { image, acquire } = options;
  const log = acquire.log;
  const started = Date.now();
  log.info('acquiring', { step: 'acquire', source: image.source.type, url: (image.source as { url?: string }).url });
  const source = await image.driver.open(image.source, acquire);
  try {
    return await publishOpened(options, source, started);
  } finally {
    await source.cleanup?.().catch((error: unknown) => log.warn(`cleanup after ${image.name} failed: ${(error as Error).message}`));
  }
}

async function publishOpened(options: PublishOptions, source: SourceStream, started: number): Promise<Published> {
  const { image, store, acquire } = options;
  const log = acquire.log;
  const decompress = image.source.decompress;
  let upload;
  try {
    upload = await store.beginImage(image.key, decompress ? { signal: acquire.signal } : { sizeHint: source.size, signal: acquire.signal });
  } catch (error) {
    // The source is open (a live HTTP body, a file handle): close it before giving up.
    source.stream.destroy();
    throw error;
  }
  const progress = options.progress.start(image.name, source.size);
  try {
    const outAlgorithms: Algorithm[] = [image.algorithm, 'sha256'];
    const sourceAlgorithm = image.sourceChecksum ? (image.sourceChecksum.split(':')[0] as Algorithm) : undefined;
    const counted = (n: number) => progress.advance(n);
    let sourceHash: HashingStream;
    let outHash: Digested;
    const chosen = decompress ? decompressor(decompress, options.decompressor, acquire.env) : undefined;
    if (chosen) {
      sourceHash = new HashingStream(sourceAlgorithm ? [sourceAlgorithm] : [], counted);
      // Downloads arrive in 16 KiB TLS records: the decompressor takes them in batches.
      const input: [Readable, ...Duplex[]] = [source.stream, new CoalesceStream(), sourceHash];
      if (chosen.native && upload.direct) {
        // A native decompressor writes the store's file itself; the bytes are hashed as they are read back.
        log.info(`decompressing with ${chosen.label} into the store's file`, { step: 'decompress' });
        const digests = new Digests(outAlgorithms);
        const cap = image.maxDecompressedSize;
        await decompressIntoFile({
          input,
          tool: chosen.native,
          file: upload.direct,
          onChunk: (chunk) => {
            if (digests.bytes + chunk.length > cap) throw capError(cap, image.name);
            digests.update(chunk);
          },
          writeError: (message) =>
            new IngotError(ErrorCode.storeIo, `cannot write ${image.key}: ${message}`, {
              path: image.key,
              hint: "the decompressor could not write the store's file: check the free space, quota and permissions of the store's disk",
            }),
          signal: acquire.signal,
        });
        digests.finish();
        outHash = digests;
        // Nothing went through the writable: ending it fsyncs and closes the file.
        await finished(upload.writable.end());
      } else {
        log.info(`decompressing with ${chosen.label}`, { step: 'decompress' });
        const decompressed = new HashingStream(outAlgorithms);
        outHash = decompressed;
        await pipeline([...input, chosen.create(), new CapStream(image.maxDecompressedSize, image.name), decompressed, upload.writable], {
          signal: acquire.signal,
        });
      }
    } else {
      // Same bytes in and out: one hashing stage computes every digest.
      sourceHash = new HashingStream([...outAlgorithms, ...(sourceAlgorithm ? [sourceAlgorithm] : [])], counted);
      outHash = sourceHash;
      // The same cap bounds a body without Content-Length that never ends.
      await pipeline([source.stream, new CapStream(image.maxDecompressedSize, image.name, 'size'), sourceHash, upload.writable], {
        signal: acquire.signal,
      });
    }

    if (image.sourceChecksum) checkDigest('source', image.sourceChecksum, sourceHash.digest(sourceAlgorithm!), image, source.facts.url);
    const checksum = outHash.digest(image.algorithm);
    if (image.expected) checkDigest(decompress ? 'decompressed' : 'downloaded', image.expected, checksum, image, source.facts.url);
    if (source.size !== undefined && sourceHash.bytes !== source.size) {
      throw new IngotError(ErrorCode.sizeMismatch, `read ${sourceHash.bytes} bytes but the source announced ${source.size}`, {
        image: image.name,
      });
    }

    const metadata: ImageMetadata = {
      schemaVersion: 1,
      name: image.name,
      path: image.path,
      key: image.key,
      checksum,
      sha256: outHash.digest('sha256'),
      size: outHash.bytes,
      uploadedAt: (options.now?.() ?? new Date()).toISOString(),
      source: {
        ...source.facts,
        ...(image.sourceChecksum && image.sourceChecksum !== checksum ? { checksum: image.sourceChecksum } : {}),
        ...(decompress ? { size: sourceHash.bytes } : {}),
        ...(options.fingerprint ? { fingerprint: options.fingerprint.value } : {}),
      },
      ...(image.family ? { family: image.family } : {}),
      ...(image.version ? { version: image.version } : {}),
      ...(image.compatibility ? { compatibility: image.compatibility } : {}),
    };
    const attachments = await publishAttachments(store, image, source, acquire.signal);
    if (attachments) metadata.attachments = attachments;
    log.info('verified', { step: 'verify', checksum, bytes: metadata.size, durationMs: Date.now() - started });
    await store.commitImage(upload, metadata, acquire.signal);
    log.info('published', { step: 'publish', key: image.key, bytes: metadata.size, durationMs: Date.now() - started });
    return { metadata, sourceBytes: sourceHash.bytes };
  } catch (error) {
    await upload.abort().catch(() => undefined);
    throw error;
  } finally {
    progress.done();
  }
}

function checkDigest(what: string, expected: Digest, actual: Digest, image: Image, url: string | undefined): void {
  if (expected === actual) return;
  throw new IngotError(ErrorCode.digestMismatch, `${what} bytes do not match the declared digest`, {
    image: image.name,
    ...(url ? { url } : {}),
    expected,
    actual,
    hint:
      what === 'source'
        ? 'the download differs from source.checksum: the file changed upstream, the checksum is wrong, or the transfer was tampered with; nothing was published'
        : 'the bytes differ from validation.expected: check the expected digest (it is of the decompressed image); nothing was published',
  });
}

/** Uploads a source's attachments (image key + suffix) before the metadata that lists them. */
async function publishAttachments(store: ImageStore, image: Image, source: SourceStream, signal: AbortSignal): Promise<ImageMetadata['attachments']> {
  if (!source.attachments?.length) return undefined;
  const out: NonNullable<ImageMetadata['attachments']> = {};
  for (const { suffix, file } of source.attachments) {
    const key = `${image.key}${suffix}`;
    const bytes = await readFile(file);
    await store.backend.put(key, bytes, signal);
    out[suffix.replace(/^[.-]+/, '')] = { key, sha256: formatDigest('sha256', createHash('sha256').update(bytes).digest('hex')), size: bytes.length };
  }
  return out;
}
