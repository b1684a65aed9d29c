/**
 * The sync plan: a pure function of an image and what the store says about
 * it. `--dry-run` prints exactly this; `apply` carries it out.
 */
import type { Image } from '../manifest/types.js';
import type { MetadataRead } from '../store/image-store.js';

export type Action = 'skip' | 'publish' | 'republish' | 'unknown';

export interface PlannedImage {
  image: Image;
  action: Action;
  reason: string;
}

export interface PlanOptions {
  force: boolean;
  /** Current build fingerprint, for sources without a declared digest. */
  fingerprint?: string;
}

/** Decides what to do with one image. */
export function planImage(image: Image, stored: MetadataRead, options: PlanOptions): PlannedImage {
  const plan = (action: Action, reason: string): PlannedImage => ({ image, action, reason });
  if (stored.status === 'absent') return plan('publish', 'not in the store');
  if (stored.status === 'invalid') return plan('republish', `stored metadata is unreadable (${stored.problem})`);
  const meta = stored.metadata;
  if (options.force) return plan('republish', '--force');
  if (meta.key !== image.key) return plan('republish', `stored under ${meta.key}, declared under ${image.key}`);
  if (image.expected) {
    if (meta.checksum === image.expected) return plan('skip', 'checksum matches');
    return plan('republish', `stored ${short(meta.checksum)} differs from expected ${short(image.expected)}`);
  }
  const stored_fp = typeof meta.source.fingerprint === 'string' ? meta.source.fingerprint : undefined;
  if (options.fingerprint && stored_fp === options.fingerprint) return plan('skip', 'build inputs unchanged (fingerprint matches)');
  return plan('republish', stored_fp ? 'build inputs changed (fingerprint differs)' : 'no build fingerprint stored');
}

function short(digest: string): string {
  const [algorithm, hex] = digest.split(':');
  return `${algorithm}:${(hex ?? '').slice(0, 12)}…`;
}
