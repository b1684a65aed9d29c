/**
 * The store layout on top of any backend:
 *
 *     <prefix><destination.path>         the image bytes (prefix default "images/")
 *     metadata/<destination.path>.json   written last: the commit marker
 *     index.json, index.json.minisig     the signed catalogue
 *     channels/<family>.json             channel pointers
 *
 * Publishing order keeps every reader safe: new bytes are verified before
 * commit; the old metadata is removed before the bytes are replaced; the new
 * metadata is written last. A crash in between leaves an image without
 * metadata (re-published by the next sync), never metadata for other bytes.
 */
import { ErrorCode, IngotError } from '../errors.js';
import type { StoreBackend, Upload, UploadOptions } from './backend.js';
import { joinKey } from './keys.js';
import { parseMetadata, type ImageMetadata } from './metadata.js';

export const METADATA_PREFIX = 'metadata/';
export const DEFAULT_IMAGE_PREFIX = 'images/';

export type MetadataRead =
  | { status: 'absent' }
  | { status: 'present'; metadata: ImageMetadata }
  | { status: 'invalid'; problem: string };

export class ImageStore {
  constructor(readonly backend: StoreBackend) {}

  get displayUrl(): string {
    return this.backend.displayUrl;
  }

  metadataKey(destinationPath: string): string {
    return joinKey(METADATA_PREFIX, `${destinationPath}.json`);
  }

  imageKey(prefix: string, destinationPath: string): string {
    return joinKey(prefix, destinationPath);
  }

  async readMetadata(destinationPath: string, signal?: AbortSignal): Promise<MetadataRead> {
    const bytes = await this.backend.get(this.metadataKey(destinationPath), signal);
    if (!bytes) return { status: 'absent' };
    const parsed = parseMetadata(bytes);
    return 'metadata' in parsed ? { status: 'present', metadata: parsed.metadata } : { status: 'invalid', problem: parsed.problem };
  }

  /** Every metadata document in the store (invalid ones reported, not thrown). */
  async *listMetadata(signal?: AbortSignal): AsyncIterable<{ key: string; read: MetadataRead }> {
    for await (const info of this.backend.list(METADATA_PREFIX, signal)) {
      if (!info.key.endsWith('.json')) continue;
      const bytes = await this.backend.get(info.key, signal);
      if (!bytes) continue; // deleted between list and get
      const parsed = parseMetadata(bytes);
      yield {
        key: info.key,
        read: 'metadata' in parsed ? { status: 'present', metadata: parsed.metadata } : { status: 'invalid', problem: parsed.problem },
      };
    }
  }

  /** Starts writing new image bytes; invisible until `commitImage`. */
  beginImage(key: string, options?: UploadOptions): Promise<Upload> {
    return this.backend.upload(key, options);
  }

  /**
   * Makes verified bytes visible and records them: drop the old metadata,
   * commit the bytes, write the new metadata last.
   */
  async commitImage(upload: Upload, metadata: ImageMetadata, signal?: AbortSignal): Promise<void> {
    await this.commitImageBytes(upload, metadata.path, `${JSON.stringify(metadata, null, 2)}\n`, signal);
  }

  /**
   * `commitImage` with the metadata document's exact bytes: a mirror keeps
   * them byte-identical, since the signed index lists their digest.
   */
  async commitImageBytes(upload: Upload, destinationPath: string, metadataBytes: Uint8Array | string, signal?: AbortSignal): Promise<void> {
    const metaKey = this.metadataKey(destinationPath);
    try {
      await this.backend.delete([metaKey], signal);
    } catch (error) {
      await upload.abort();
      throw error;
    }
    await upload.commit();
    await this.backend.put(metaKey, metadataBytes, signal);
  }

  /** Removes an image and its metadata (metadata first, so no reader trusts vanishing bytes). */
  async removeImage(metadataKey: string, imageKey: string | undefined, signal?: AbortSignal): Promise<void> {
    if (!metadataKey.startsWith(METADATA_PREFIX)) {
      throw new IngotError(ErrorCode.internal, `refusing to delete outside ${METADATA_PREFIX}: ${metadataKey}`);
    }
    await this.backend.delete([metadataKey], signal);
    if (imageKey) await this.backend.delete([imageKey], signal);
  }
}
