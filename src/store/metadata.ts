/**
 * Image metadata: the JSON written under metadata/<destination.path>.json
 * after the bytes. Its presence is the commit marker of a publish.
 */
import { digestProblem, type Digest } from '../digest/digest.js';

export interface ImageMetadata {
  schemaVersion: 1;
  name: string;
  /** destination.path from the manifest. */
  path: string;
  /** Store key of the bytes (destinationPrefix + path). */
  key: string;
  /** Digest of the stored bytes, in the image's validation algorithm. */
  checksum: Digest;
  /** sha256 of the stored bytes (always present; hosts use it for sidecars). */
  sha256: Digest;
  size: number;
  /** RFC 3339: when the bytes were published. */
  uploadedAt: string;
  /** RFC 3339: when descriptive fields were last rewritten without new bytes (sync's `update`). */
  updatedAt?: string;
  source: SourceFacts;
  family?: string;
  version?: string;
  /** Free-form compatibility facts (enforced by hosts when selecting). */
  compatibility?: Record<string, unknown>;
  /** Files published next to the image (scan reports of a bake), by name: store key, digest and size. */
  attachments?: Record<string, { key: string; sha256: Digest; size: number }>;
}

/** What produced the bytes: type plus facts from the source driver. */
export interface SourceFacts {
  type: string;
  url?: string;
  /** The source-side digest, when it differs from `checksum` (compressed downloads). */
  checksum?: Digest;
  decompress?: string;
  /** Bytes read from the source (compressed size). */
  size?: number;
  [key: string]: unknown;
}

/** Parses metadata bytes, returning a reason instead of throwing. */
export function parseMetadata(bytes: Buffer): { metadata: ImageMetadata } | { problem: string } {
  let data: unknown;
  try {
    data = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    return { problem: `not JSON: ${(error as Error).message}` };
  }
  if (typeof data !== 'object' || data === null) return { problem: 'not a JSON object' };
  const m = data as Partial<ImageMetadata>;
  if (typeof m.checksum !== 'string' || digestProblem(m.checksum)) return { problem: 'missing or malformed "checksum"' };
  if (typeof m.size !== 'number' || !Number.isSafeInteger(m.size) || m.size < 0) return { problem: 'missing or bad "size"' };
  if (typeof m.key !== 'string' || typeof m.path !== 'string') return { problem: 'missing "key" or "path"' };
  return { metadata: m as ImageMetadata };
}
