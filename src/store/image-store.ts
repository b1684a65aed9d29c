/**
 * The store layout on top of any backend:
 *
 *     <prefix><destination.path>         the image bytes (prefix default "images/")
 *     metadata/<destination.path>.json   written last: the commit marker
 *     index.json, index.json.minisig     the signed catalogue
 *     channels/<family>.json             channel pointers
 *     boot/<name>.json                   boot manifests
 *
 * Image bytes may never land on the store's own names (layout.ts): the
 * joined key is checked before an upload starts, again before it commits,
 * and before a key read from metadata is deleted.
 *
 * Publishing order keeps every reader safe: new bytes are verified before
 * commit; the old metadata is removed before the bytes are replaced; the new
 * metadata is written last. A crash in between leaves an image without
 * metadata (re-published by the next sync), never metadata for other bytes.
 */
import { ErrorCode, IngotError } from '../errors.js';
import type { StoreBackend, Upload, UploadOptions } from './backend.js';
import { joinKey } from './keys.js';
import { assertImageKey, METADATA_PREFIX, metadataKeyFor, READ_LIMITS, reservedKeyProblem } from './layout.js';
import { parseMetadata, type ImageMetadata } from './metadata.js';

export { METADATA_PREFIX };
export const DEFAULT_IMAGE_PREFIX = 'images/';

export type MetadataRead = { status: 'absent' } | { status: 'present'; metadata: ImageMetadata } | { status: 'invalid'; problem: string };

export class ImageStore {
  /** `chosen` says where the store came from and why (see store/choose.ts), for messages. */
  constructor(
    readonly backend: StoreBackend,
    readonly chosen?: { origin: string; reason: string },
  ) {}

  get displayUrl(): string {
    return this.backend.displayUrl;
  }

  metadataKey(destinationPath: string): string {
    return metadataKeyFor(destinationPath);
  }

  imageKey(prefix: string, destinationPath: string): string {
    return joinKey(prefix, destinationPath);
  }

  async readMetadata(destinationPath: string, signal?: AbortSignal): Promise<MetadataRead> {
    const read = await this.#getMetadata(this.metadataKey(destinationPath), signal);
    if (read === undefined) return { status: 'absent' };
    if ('problem' in read) return { status: 'invalid', problem: read.problem };
    const parsed = parseMetadata(read.bytes);
    return 'metadata' in parsed ? { status: 'present', metadata: parsed.metadata } : { status: 'invalid', problem: parsed.problem };
  }

  /** A metadata document's bytes, bounded: an oversized one is reported invalid, never read whole. */
  async #getMetadata(key: string, signal?: AbortSignal): Promise<{ bytes: Buffer } | { problem: string } | undefined> {
    try {
      const bytes = await this.backend.get(key, signal, { maxBytes: READ_LIMITS.metadata });
      return bytes ? { bytes } : undefined;
    } catch (error) {
      if (error instanceof IngotError && error.code === ErrorCode.objectTooLarge) return { problem: error.message };
      throw error;
    }
  }

  /** Every metadata document in the store (invalid ones reported, not thrown). */
  async *listMetadata(signal?: AbortSignal): AsyncIterable<{ key: string; read: MetadataRead }> {
    for await (const info of this.backend.list(METADATA_PREFIX, signal)) {
      if (!info.key.endsWith('.json')) continue;
      const read = await this.#getMetadata(info.key, signal);
      if (!read) continue; // deleted between list and get
      if ('problem' in read) {
        yield { key: info.key, read: { status: 'invalid', problem: read.problem } };
        continue;
      }
      const parsed = parseMetadata(read.bytes);
      yield {
        key: info.key,
        read: 'metadata' in parsed ? { status: 'present', metadata: parsed.metadata } : { status: 'invalid', problem: parsed.problem },
      };
    }
  }

  /** Starts writing new image bytes; invisible until `commitImage`. Refuses the store's own names. */
  async beginImage(key: string, options?: UploadOptions): Promise<Upload> {
    assertImageKey(key);
    return this.backend.upload(key, options);
  }

  /**
   * Makes verified bytes visible and records them: drop the old metadata,
   * commit the bytes, write the new metadata last.
   */
  async commitImage(upload: Upload, metadata: ImageMetadata, signal?: AbortSignal): Promise<void> {
    await this.commitImageBytes(upload, metadata, `${JSON.stringify(metadata, null, 2)}\n`, signal);
  }

  /**
   * `commitImage` with the metadata document's exact bytes: a mirror keeps
   * them byte-identical, since the signed index lists their digest.
   */
  async commitImageBytes(
    upload: Upload,
    metadata: Pick<ImageMetadata, 'path' | 'key' | 'name'>,
    metadataBytes: Uint8Array | string,
    signal?: AbortSignal,
  ): Promise<void> {
    const metaKey = this.metadataKey(metadata.path);
    try {
      assertImageKey(metadata.key, metadata.name);
    } catch (error) {
      await upload.abort();
      throw error;
    }
    try {
      await this.backend.delete([metaKey], signal);
    } catch (error) {
      await upload.abort();
      throw error;
    }
    await upload.commit();
    await this.backend.put(metaKey, metadataBytes, signal);
  }

  /**
   * Rewrites the metadata of bytes already published (descriptive fields
   * only: the caller keeps checksum, size and key). One atomic put: readers
   * see the old document or the new one.
   */
  async updateMetadata(metadata: ImageMetadata, signal?: AbortSignal): Promise<void> {
    await this.backend.put(this.metadataKey(metadata.path), `${JSON.stringify(metadata, null, 2)}\n`, signal);
  }

  /** Removes an image and its metadata (metadata first, so no reader trusts vanishing bytes). */
  async removeImage(metadataKey: string, imageKey: string | undefined, signal?: AbortSignal): Promise<void> {
    if (!metadataKey.startsWith(METADATA_PREFIX)) {
      throw new IngotError(ErrorCode.internal, `refusing to delete outside ${METADATA_PREFIX}: ${metadataKey}`);
    }
    // The image key comes from a metadata document anyone with write access could have forged.
    const reserved = imageKey === undefined ? undefined : reservedKeyProblem(imageKey);
    if (reserved) {
      throw new IngotError(ErrorCode.destinationConflict, `refusing to delete "${imageKey}" named by ${metadataKey}: it ${reserved}`, {
        path: imageKey,
        hint: 'the metadata document is damaged or forged; remove it by hand after checking the store',
      });
    }
    await this.backend.delete([metadataKey], signal);
    if (imageKey) await this.backend.delete([imageKey], signal);
  }
}
