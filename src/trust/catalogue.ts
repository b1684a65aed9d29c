/**
 * The catalogue, `index.json`: every published image with what a host needs
 * to check its bytes (checksum, sha256, size), the digest of its metadata
 * document, and its family/version/compatibility for selection. `version`
 * only ever grows; `expires` bounds how long a copy can be replayed.
 */
import { createHash, randomUUID } from 'node:crypto';
import { digestProblem, formatDigest, type Digest } from '../digest/digest.js';
import { ErrorCode, IngotError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { BlobInfo } from '../store/backend.js';
import { METADATA_PREFIX, type ImageStore } from '../store/image-store.js';
import { relativePathProblem } from '../store/keys.js';
import { INDEX_KEY, metadataKeyFor, READ_LIMITS, reservedKeyProblem } from '../store/layout.js';
import { parseMetadata } from '../store/metadata.js';
import { mapLimit } from '../util/concurrency.js';

/** Store key of the catalogue (its signature is INDEX_KEY + ".minisig"). */
export { INDEX_KEY };
/** Default validity of a signed index: 7 days. */
export const DEFAULT_INDEX_EXPIRY_MS = 7 * 24 * 60 * 60 * 1000;

/** One published image as the catalogue lists it. */
export interface IndexEntry {
  name: string;
  /** destination.path */
  path: string;
  /** Store key of the bytes. */
  key: string;
  checksum: Digest;
  sha256: Digest;
  size: number;
  /** sha256 of the metadata document's exact bytes. */
  metadata: Digest;
  /**
   * The store's validator of the metadata document when the index was signed
   * (its listing ETag: S3's ETag, or inode-size-mtime in a directory). While
   * a listing shows the same one, the document is the one this entry was made
   * from, so a re-sync can plan from the entry without reading it. Absent in
   * older indexes and for backends whose listings give none.
   */
  metadataEtag?: string;
  uploadedAt?: string;
  family?: string;
  version?: string;
  compatibility?: Record<string, unknown>;
}

/** The signed catalogue. */
export interface Index {
  schemaVersion: 1;
  /**
   * A random id made when the store's first index is signed and kept by every
   * re-signing: with the signing key it names this catalogue, so hosts keep
   * one rollback floor per catalogue however its store is reached. Absent in
   * indexes signed before ingot carried it.
   */
  storeId?: string;
  /** Grows by one on every re-signing; hosts refuse a lower one than they last accepted. */
  version: number;
  /** RFC 3339. */
  generatedAt: string;
  /** RFC 3339; hosts refuse the index after this time (freeze protection). */
  expires: string;
  images: IndexEntry[];
}

/**
 * The entries of a verified index by the key of the metadata document each
 * was made from: what a listing is checked against (see `vouchedEntry`).
 */
export function entriesByMetadataKey(index: Pick<Index, 'images'>): Map<string, IndexEntry> {
  return new Map(index.images.map((e) => [metadataKeyFor(e.path), e]));
}

/**
 * The entry of a verified index that still describes the metadata document
 * a listing shows: same key, and the same validator as when it was signed.
 * Undefined when the index does not vouch for it (no entry, no validator on
 * either side, or the document was rewritten since): read the document then.
 */
export function vouchedEntry(entries: ReadonlyMap<string, IndexEntry> | undefined, info: BlobInfo): IndexEntry | undefined {
  const entry = entries?.get(info.key);
  return entry?.metadataEtag !== undefined && info.etag !== undefined && entry.metadataEtag === info.etag ? entry : undefined;
}

/**
 * Reads every metadata document (16 at a time) and lists the published
 * images, sorted by path. With `reuse` (the entries of the current index,
 * verified), a document whose listing validator is unchanged since that
 * index was signed is not read again: its entry is kept as it was.
 */
export async function collectEntries(store: ImageStore, log: Logger, signal?: AbortSignal, reuse?: ReadonlyMap<string, IndexEntry>): Promise<IndexEntry[]> {
  const listed: BlobInfo[] = [];
  for await (const info of store.backend.list(METADATA_PREFIX, signal)) if (info.key.endsWith('.json')) listed.push(info);
  const found = await mapLimit(listed, 16, async (info): Promise<IndexEntry | undefined> => {
    const kept = vouchedEntry(reuse, info);
    if (kept) return kept;
    const key = info.key;
    let bytes: Buffer | undefined;
    try {
      bytes = await store.backend.get(key, signal, { maxBytes: READ_LIMITS.metadata });
    } catch (error) {
      if (!(error instanceof IngotError) || error.code !== ErrorCode.objectTooLarge) throw error;
      log.warn('metadata left out of the index: too large', { path: key, problem: error.message });
      return undefined;
    }
    if (!bytes) return undefined; // removed between list and get
    const parsed = parseMetadata(bytes);
    if (!('metadata' in parsed)) {
      log.warn('metadata left out of the index: invalid', { path: key, problem: parsed.problem });
      return undefined;
    }
    const m = parsed.metadata;
    const sha256 = typeof m.sha256 === 'string' && !digestProblem(m.sha256) ? m.sha256 : m.checksum.startsWith('sha256:') ? m.checksum : undefined;
    const entry: IndexEntry = {
      name: m.name,
      path: m.path,
      key: m.key,
      checksum: m.checksum,
      sha256: (sha256 ?? '').toLowerCase() as Digest,
      size: m.size,
      metadata: formatDigest('sha256', createHash('sha256').update(bytes).digest('hex')),
      // From the listing, taken before the read: if the document changed in between, the next run's
      // listing differs from this and the document is read again (never trusted on a stale validator).
      ...(info.etag !== undefined ? { metadataEtag: info.etag } : {}),
    };
    if (m.uploadedAt) entry.uploadedAt = m.uploadedAt;
    if (m.family) entry.family = m.family;
    if (m.version) entry.version = m.version;
    if (m.compatibility) entry.compatibility = m.compatibility;
    // The same checks hosts apply: one bad document must not make the whole index unreadable.
    const problem = indexEntryProblem(entry);
    if (problem) {
      log.warn('metadata left out of the index', { path: key, problem });
      return undefined;
    }
    return entry;
  });
  const entries = found.filter((e): e is IndexEntry => e !== undefined);
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

const FAMILY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Why an index entry is unusable by hosts, or undefined. Shared by the signer and the reader. */
export function indexEntryProblem(e: Partial<IndexEntry>): string | undefined {
  if (typeof e !== 'object' || e === null) return 'must be an object';
  for (const f of ['name', 'path', 'key'] as const) if (typeof e[f] !== 'string' || e[f] === '') return `${f} must be a non-empty string`;
  const pathProblem = relativePathProblem(e.path as string);
  if (pathProblem) return `path ${pathProblem}`;
  const keyProblem = relativePathProblem(e.key as string);
  if (keyProblem) return `key ${keyProblem}`;
  const reserved = reservedKeyProblem(e.key as string);
  if (reserved) return `key "${e.key as string}" ${reserved}`;
  for (const f of ['checksum', 'sha256', 'metadata'] as const) {
    if (typeof e[f] !== 'string' || digestProblem(e[f] as string)) return `${f} must be a digest`;
  }
  if (!(e.sha256 as string).startsWith('sha256:')) return 'sha256 must be a sha256 digest';
  if (!Number.isSafeInteger(e.size) || (e.size as number) < 0) return 'size must be a non-negative integer';
  if (e.family !== undefined && (typeof e.family !== 'string' || !FAMILY_NAME.test(e.family)))
    return 'family must be letters, digits, ".", "_" or "-" (max 64)';
  if (e.version !== undefined && typeof e.version !== 'string') return 'version must be a string';
  if (e.metadataEtag !== undefined && (typeof e.metadataEtag !== 'string' || e.metadataEtag.length > 256))
    return 'metadataEtag must be a string (at most 256 characters)';
  return undefined;
}

/** Inputs of `buildIndex`. */
export interface BuildIndexOptions {
  /** The index currently in the store, if any (its version is the floor; its storeId is kept). */
  previous?: Pick<Index, 'version' | 'images' | 'storeId'>;
  /** Validity from `now` (default 7 days). */
  expiresInMs?: number;
  now?: Date;
  log: Logger;
  signal?: AbortSignal;
}

/** Builds the next index: version = previous + 1 (every signed index is a new version). */
export async function buildIndex(store: ImageStore, options: BuildIndexOptions): Promise<Index> {
  const images = await collectEntries(store, options.log, options.signal);
  return indexFrom(images, options);
}

/** The index document for given entries (pure). */
export function indexFrom(images: IndexEntry[], options: Omit<BuildIndexOptions, 'log' | 'signal'>): Index {
  const now = options.now ?? new Date();
  return {
    schemaVersion: 1,
    storeId: options.previous?.storeId ?? newStoreId(),
    version: (options.previous?.version ?? 0) + 1,
    generatedAt: now.toISOString(),
    expires: new Date(now.getTime() + (options.expiresInMs ?? DEFAULT_INDEX_EXPIRY_MS)).toISOString(),
    images,
  };
}

/** A fresh store id: 128 random bits, as a UUID. */
export function newStoreId(): string {
  return randomUUID();
}

const STORE_ID = /^[A-Za-z0-9][A-Za-z0-9-]{7,63}$/;

/** Whether two entry lists describe the same published state. */
export function sameEntries(a: readonly IndexEntry[], b: readonly IndexEntry[]): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The exact bytes written to the store. */
export function serializeIndex(index: Index): string {
  return `${JSON.stringify(index, null, 2)}\n`;
}

/** Parses index bytes whose signature has already been verified; throws INGOT_INDEX_INVALID. */
export function parseIndex(bytes: Buffer, where = INDEX_KEY): Index {
  let data: unknown;
  try {
    data = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw invalid(where, `not JSON: ${(error as Error).message}`);
  }
  const d = data as Partial<Index>;
  if (typeof d !== 'object' || d === null || d.schemaVersion !== 1) throw invalid(where, 'expected an object with "schemaVersion": 1');
  if (!Number.isSafeInteger(d.version) || (d.version as number) < 1) throw invalid(where, '"version" must be a positive integer');
  if (d.storeId !== undefined && (typeof d.storeId !== 'string' || !STORE_ID.test(d.storeId)))
    throw invalid(where, '"storeId" must be 8–64 letters, digits or "-"');
  for (const field of ['generatedAt', 'expires'] as const) {
    if (typeof d[field] !== 'string' || Number.isNaN(Date.parse(d[field] as string))) throw invalid(where, `"${field}" must be an RFC 3339 time`);
  }
  if (!Array.isArray(d.images)) throw invalid(where, '"images" must be an array');
  d.images.forEach((e: Partial<IndexEntry>, i) => {
    const problem = indexEntryProblem(e);
    if (problem) throw invalid(where, `images[${i}].${problem}`);
  });
  return d as Index;
}

function invalid(where: string, problem: string): IngotError {
  return new IngotError(ErrorCode.indexInvalid, `invalid index ${where}: ${problem}`, {
    hint: 'the index is signed but malformed: re-sign it with a current ingot (`ingot sign`)',
  });
}
