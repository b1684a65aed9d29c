/**
 * What a mirror compares: the source's published images (metadata documents,
 * byte for byte), its signed documents (boot manifests, channel files, the
 * index, each with its .minisig) and the destination's keys. Reads metadata
 * and small documents only, never image bytes.
 */
import { createHash } from 'node:crypto';
import type { Digest } from '../digest/digest.js';
import type { BlobInfo, StoreBackend } from '../store/backend.js';
import { METADATA_PREFIX } from '../store/image-store.js';
import { relativePathProblem } from '../store/keys.js';
import { parseMetadata, type ImageMetadata } from '../store/metadata.js';
import { INDEX_KEY } from '../trust/catalogue.js';
import { SIGNATURE_SUFFIX } from '../trust/signed-object.js';
import { mapLimit } from '../util/concurrency.js';

/** Prefixes a mirror copies (and, with --delete, cleans) besides the image keys themselves. */
export const DOCUMENT_PREFIXES = ['boot/', 'channels/'] as const;
/** Every prefix a mirror manages in the destination. */
export const MANAGED_PREFIXES = ['images/', METADATA_PREFIX, ...DOCUMENT_PREFIXES] as const;

/** One published image at the source. */
export interface ImageDoc {
  metadataKey: string;
  /** The metadata document's exact bytes (copied as they are). */
  bytes: Buffer;
  metadata: ImageMetadata;
  /** sha256 of `bytes` (what the signed index lists). */
  digest: Digest;
}

/** A small document with its detached signature, if any. */
export interface SignedDoc {
  key: string;
  bytes: Buffer;
  signature?: Buffer;
}

/** The source side. */
export interface SourceInventory {
  images: ImageDoc[];
  /** Metadata documents that cannot be copied, with the reason. */
  invalid: { key: string; problem: string }[];
  /** boot/*.json and channels/*.json. */
  documents: SignedDoc[];
  index?: SignedDoc;
}

/** The destination side: every key, the metadata documents' bytes, and its copies of the source's documents. */
export interface DestInventory {
  objects: Map<string, BlobInfo>;
  metadata: Map<string, Buffer>;
  /** Bytes of the destination's documents (and signatures) at the source documents' keys. */
  documents: Map<string, Buffer>;
}

/** Reads the source's metadata and documents (16 at a time). */
export async function readSource(backend: StoreBackend, signal?: AbortSignal): Promise<SourceInventory> {
  const metadataKeys: string[] = [];
  for await (const info of backend.list(METADATA_PREFIX, signal)) if (info.key.endsWith('.json')) metadataKeys.push(info.key);
  const invalid: SourceInventory['invalid'] = [];
  const images = (
    await mapLimit(metadataKeys.sort(), 16, async (key): Promise<ImageDoc | undefined> => {
      const bytes = await backend.get(key, signal);
      if (!bytes) return undefined; // removed between list and get
      const parsed = parseMetadata(bytes);
      const problem = 'metadata' in parsed ? imageProblem(key, parsed.metadata) : parsed.problem;
      if (problem || !('metadata' in parsed)) {
        invalid.push({ key, problem: problem ?? 'invalid' });
        return undefined;
      }
      return { metadataKey: key, bytes, metadata: parsed.metadata, digest: sha256(bytes) };
    })
  ).filter((d): d is ImageDoc => d !== undefined);

  const documents: SignedDoc[] = [];
  for (const prefix of DOCUMENT_PREFIXES) {
    const keys = new Set<string>();
    for await (const info of backend.list(prefix, signal)) keys.add(info.key);
    for (const key of [...keys].filter((k) => k.endsWith('.json')).sort()) {
      const doc = await readSigned(backend, key, keys.has(key + SIGNATURE_SUFFIX), signal);
      if (doc) documents.push(doc);
    }
  }
  const index = await readSigned(backend, INDEX_KEY, true, signal);
  return { images, invalid: invalid.sort((a, b) => (a.key < b.key ? -1 : 1)), documents, ...(index ? { index } : {}) };
}

/** Lists every destination key, reads its metadata documents and its copies of `documentKeys` (with signatures). */
export async function readDest(backend: StoreBackend, documentKeys: readonly string[], signal?: AbortSignal): Promise<DestInventory> {
  const objects = new Map<string, BlobInfo>();
  for await (const info of backend.list('', signal)) objects.set(info.key, info);
  const read = async (keys: string[]) => {
    const out = new Map<string, Buffer>();
    await mapLimit(keys, 16, async (key) => {
      const bytes = await backend.get(key, signal);
      if (bytes) out.set(key, bytes);
    });
    return out;
  };
  const metadata = await read([...objects.keys()].filter((k) => k.startsWith(METADATA_PREFIX) && k.endsWith('.json')));
  const documents = await read(documentKeys.flatMap((k) => [k, k + SIGNATURE_SUFFIX]).filter((k) => objects.has(k)));
  return { objects, metadata, documents };
}

/** Reads a document and its signature (when `signed` says one was listed, or is worth asking for). */
export async function readSigned(backend: StoreBackend, key: string, signed: boolean, signal?: AbortSignal): Promise<SignedDoc | undefined> {
  const bytes = await backend.get(key, signal);
  if (!bytes) return undefined;
  const signature = signed ? await backend.get(key + SIGNATURE_SUFFIX, signal) : undefined;
  return { key, bytes, ...(signature ? { signature } : {}) };
}

/**
 * Why a metadata document cannot be mirrored: it must sit at
 * metadata/<path>.json, and its image key must be a safe key outside the
 * document prefixes (a document naming "index.json" as its bytes must never
 * overwrite the index).
 */
export function imageProblem(metadataKey: string, m: ImageMetadata): string | undefined {
  if (metadataKey !== `${METADATA_PREFIX}${m.path}.json`) return `it describes path "${m.path}", not its own location`;
  const keyProblem = relativePathProblem(m.key);
  if (keyProblem) return `its image key ${keyProblem}`;
  if (m.key === INDEX_KEY || m.key.startsWith(INDEX_KEY) || [METADATA_PREFIX, ...DOCUMENT_PREFIXES].some((p) => m.key.startsWith(p))) {
    return `its image key "${m.key}" lies in a reserved place`;
  }
  return undefined;
}

export function sha256(bytes: Buffer): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
}
