/**
 * The mirror plan (pure): from the two inventories, what to copy, what is
 * already there, and — for --delete — what the destination has that the
 * source does not. An image is "present and identical" when the destination
 * holds the very same metadata bytes and an object of the recorded size
 * under the image key (`ingot verify` re-hashes, when in doubt).
 */
import { INDEX_KEY } from '../trust/catalogue.js';
import { SIGNATURE_SUFFIX } from '../trust/signed-object.js';
import { parseMetadata } from '../store/metadata.js';
import { METADATA_PREFIX } from '../store/image-store.js';
import { MANAGED_PREFIXES, type DestInventory, type ImageDoc, type SignedDoc, type SourceInventory } from './inventory.js';

/** One image: copy it, or leave it. */
export interface ImageStep {
  doc: ImageDoc;
  action: 'copy' | 'skip';
  reason: string;
}

/** One signed document (boot manifest, channel file, the index). */
export interface DocumentStep {
  doc: SignedDoc;
  action: 'copy' | 'skip';
  reason: string;
  /** The destination has a signature the source does not: remove it with the copy. */
  dropSignature: boolean;
}

/** The whole plan. */
export interface MirrorPlan {
  images: ImageStep[];
  documents: DocumentStep[];
  index?: DocumentStep;
  /** Destination keys the source does not have (removed only with --delete on a clean run); metadata first. */
  extras: string[];
}

/** Plans a mirror run. */
export function planMirror(source: SourceInventory, dest: DestInventory): MirrorPlan {
  const images = source.images.map((doc): ImageStep => {
    const current = dest.metadata.get(doc.metadataKey);
    const bytes = dest.objects.get(doc.metadata.key);
    if (!current) return { doc, action: 'copy', reason: 'not in the destination' };
    if (!current.equals(doc.bytes)) return { doc, action: 'copy', reason: 'metadata differs (re-published at the source)' };
    if (!bytes) return { doc, action: 'copy', reason: 'image bytes missing in the destination' };
    if (bytes.size !== doc.metadata.size)
      return { doc, action: 'copy', reason: `image is ${bytes.size} bytes in the destination, ${doc.metadata.size} at the source` };
    return { doc, action: 'skip', reason: 'present and identical' };
  });
  const documentStep = (doc: SignedDoc, destBytes: Buffer | undefined, destSignature: boolean, destSignatureBytes: Buffer | undefined): DocumentStep => {
    const same = destBytes?.equals(doc.bytes) === true && (doc.signature ? destSignatureBytes?.equals(doc.signature) === true : !destSignature);
    return {
      doc,
      action: same ? 'skip' : 'copy',
      reason: same ? 'present and identical' : destBytes ? 'changed at the source' : 'not in the destination',
      dropSignature: !doc.signature && destSignature,
    };
  };
  return {
    images,
    documents: source.documents.map((doc) =>
      documentStep(doc, dest.documents.get(doc.key), dest.objects.has(doc.key + SIGNATURE_SUFFIX), dest.documents.get(doc.key + SIGNATURE_SUFFIX)),
    ),
    ...(source.index
      ? {
          index: documentStep(
            source.index,
            dest.documents.get(INDEX_KEY),
            dest.objects.has(INDEX_KEY + SIGNATURE_SUFFIX),
            dest.documents.get(INDEX_KEY + SIGNATURE_SUFFIX),
          ),
        }
      : {}),
    extras: extras(source, dest),
  };
}

function extras(source: SourceInventory, dest: DestInventory): string[] {
  const wanted = new Set<string>();
  for (const doc of source.images) wanted.add(doc.metadataKey).add(doc.metadata.key);
  // An invalid document at the source is a failure, not an extra: never delete its copy.
  for (const bad of source.invalid) wanted.add(bad.key);
  for (const doc of source.documents) wanted.add(doc.key).add(doc.key + SIGNATURE_SUFFIX);
  if (source.index) wanted.add(INDEX_KEY).add(INDEX_KEY + SIGNATURE_SUFFIX);
  const out = new Set<string>();
  for (const key of dest.objects.keys()) {
    if (wanted.has(key)) continue;
    const managed = MANAGED_PREFIXES.some((p) => key.startsWith(p)) || key === INDEX_KEY || key === INDEX_KEY + SIGNATURE_SUFFIX;
    if (managed) out.add(key);
  }
  // Images the destination publishes under another prefix (destinationPrefix) go with their metadata.
  for (const [key, bytes] of dest.metadata) {
    if (wanted.has(key)) continue;
    const parsed = parseMetadata(bytes);
    if ('metadata' in parsed && dest.objects.has(parsed.metadata.key) && !wanted.has(parsed.metadata.key)) out.add(parsed.metadata.key);
  }
  // Metadata first: no reader is left trusting bytes that are about to vanish.
  return [...out].sort((a, b) => Number(!a.startsWith(METADATA_PREFIX)) - Number(!b.startsWith(METADATA_PREFIX)) || (a < b ? -1 : 1));
}
