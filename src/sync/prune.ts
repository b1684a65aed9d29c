/**
 * What prune removes: images whose metadata is in the store but whose path is
 * not in the manifest, image bytes under the image prefix with no metadata
 * (left by a crash between commit and metadata) that the manifest does not
 * declare, and temporary files of killed runs (their owner is gone, or, when
 * it cannot be checked, they are older than an hour). Nothing
 * outside the image prefix and metadata/ is ever touched.
 */
import type { Manifest } from '../manifest/types.js';
import { METADATA_PREFIX, type ImageStore } from '../store/image-store.js';
import { reservedKeyProblem } from '../store/layout.js';
import { isStaleTemp } from '../util/fs-atomic.js';

export interface PruneItem {
  path: string;
  name?: string;
  size?: number;
  metadataKey: string;
  imageKey?: string;
}

export interface PrunePlan {
  remove: PruneItem[];
  /** Image-prefix keys with no metadata and not declared. */
  orphans: string[];
  /** Leftover temporary files (directory store). */
  temporary: string[];
  warnings: string[];
}

export async function prunePlan(store: ImageStore, manifest: Manifest, signal?: AbortSignal, now = Date.now()): Promise<PrunePlan> {
  const declaredPaths = new Set(manifest.images.map((i) => i.path as string));
  const declaredKeys = new Set(manifest.images.map((i) => i.key));
  const plan: PrunePlan = { remove: [], orphans: [], temporary: [], warnings: [] };
  const describedKeys = new Set<string>();
  for await (const { key, read } of store.listMetadata(signal)) {
    const path = key.slice(METADATA_PREFIX.length, -'.json'.length);
    if (read.status === 'present') describedKeys.add(read.metadata.key);
    if (declaredPaths.has(path)) continue;
    if (read.status === 'present') {
      const imageKey = read.metadata.key;
      // Metadata pointing outside the image prefix is never followed.
      // Nor metadata naming one of the store's own files (index.json, channels/…): it is forged.
      const reserved = reservedKeyProblem(imageKey);
      const safe = !reserved && (manifest.destinationPrefix === '' || imageKey.startsWith(manifest.destinationPrefix));
      if (reserved) plan.warnings.push(`metadata ${key} names ${imageKey}, which ${reserved}; removing only the metadata`);
      else if (!safe) plan.warnings.push(`metadata ${key} points outside ${manifest.destinationPrefix} (${imageKey}); removing only the metadata`);
      plan.remove.push({ path, name: read.metadata.name, size: read.metadata.size, metadataKey: key, ...(safe ? { imageKey } : {}) });
    } else if (read.status === 'invalid') {
      plan.remove.push({ path, metadataKey: key });
    }
  }
  if (manifest.destinationPrefix !== '') {
    for await (const info of store.backend.list(manifest.destinationPrefix, signal)) {
      if (!declaredKeys.has(info.key) && !describedKeys.has(info.key)) plan.orphans.push(info.key);
    }
  } else {
    plan.warnings.push('destinationPrefix is empty: orphaned image bytes are not looked for');
  }
  const temporaries = (store.backend as { listTemporary?: () => AsyncIterable<{ key: string; modified?: Date }> }).listTemporary?.();
  if (temporaries) {
    for await (const info of temporaries) {
      if (isStaleTemp(info.key, info.modified?.getTime(), now)) plan.temporary.push(info.key);
    }
  }
  return plan;
}
