/**
 * The sync plan: a pure function of an image and what the store says about
 * it. `--dry-run` prints exactly this; `apply` carries it out.
 *
 *   skip       stored bytes and metadata are current
 *   update     stored bytes are current, but descriptive fields (name,
 *              family, version, compatibility) differ: rewrite the metadata
 *              only — no download, no build
 *   publish    nothing stored yet
 *   republish  stored bytes are not the declared ones (or --force)
 */
import type { Image } from '../manifest/types.js';
import type { MetadataRead } from '../store/image-store.js';
import type { ImageMetadata } from '../store/metadata.js';

export type Action = 'skip' | 'update' | 'publish' | 'republish' | 'unknown';

/** A descriptive field whose stored value differs from the declared one (undefined = absent). */
export interface FieldChange {
  field: DescriptiveField;
  stored?: unknown;
  declared?: unknown;
}

export interface PlannedImage {
  image: Image;
  action: Action;
  reason: string;
  /** For `update`: what differs. */
  changes?: FieldChange[];
}

export interface PlanOptions {
  force: boolean;
  /** Current build fingerprint, for sources without a declared digest. */
  fingerprint?: string;
}

/** Metadata fields that describe an image without being part of its bytes. */
export const DESCRIPTIVE_FIELDS = ['name', 'family', 'version', 'compatibility'] as const;
export type DescriptiveField = (typeof DESCRIPTIVE_FIELDS)[number];

/** Decides what to do with one image. */
export function planImage(image: Image, stored: MetadataRead, options: PlanOptions): PlannedImage {
  const plan = (action: Action, reason: string): PlannedImage => ({ image, action, reason });
  if (stored.status === 'absent') return plan('publish', 'not in the store');
  if (stored.status === 'invalid') return plan('republish', `stored metadata is unreadable (${stored.problem})`);
  const meta = stored.metadata;
  if (options.force) return plan('republish', '--force');
  if (meta.key !== image.key) return plan('republish', `stored under ${meta.key}, declared under ${image.key}`);
  let current: string;
  if (image.expected) {
    if (meta.checksum !== image.expected) return plan('republish', `stored ${short(meta.checksum)} differs from expected ${short(image.expected)}`);
    current = 'checksum matches';
  } else {
    const storedFp = typeof meta.source.fingerprint === 'string' ? meta.source.fingerprint : undefined;
    if (!options.fingerprint || storedFp !== options.fingerprint) {
      return plan('republish', storedFp ? 'build inputs changed (fingerprint differs)' : 'no build fingerprint stored');
    }
    current = 'build inputs unchanged (fingerprint matches)';
  }
  const changes = descriptiveChanges(image, meta);
  if (changes.length > 0) return { image, action: 'update', reason: `${current}; ${describeChanges(changes)}`, changes };
  return plan('skip', current);
}

/** The descriptive fields whose stored values differ from the manifest's. */
export function descriptiveChanges(image: Image, meta: ImageMetadata): FieldChange[] {
  const changes: FieldChange[] = [];
  for (const field of DESCRIPTIVE_FIELDS) {
    const declared = image[field];
    const stored = meta[field];
    if (declared === stored) continue; // the common case (strings, or both absent): no serialising
    if (canonical(declared) !== canonical(stored)) {
      changes.push({ field, ...(stored !== undefined ? { stored } : {}), ...(declared !== undefined ? { declared } : {}) });
    }
  }
  return changes;
}

/** "family: (none) → talos, version: 1.9.1 → 1.9.2". */
export function describeChanges(changes: readonly FieldChange[]): string {
  return changes.map((c) => `${c.field}: ${show(c.stored)} → ${show(c.declared)}`).join(', ');
}

function show(value: unknown): string {
  if (value === undefined) return '(none)';
  return typeof value === 'string' ? value : canonical(value);
}

/** JSON with sorted keys, so key order in the manifest never counts as a change. */
function canonical(value: unknown): string {
  if (value === undefined) return 'undefined';
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function short(digest: string): string {
  const [algorithm, hex] = digest.split(':');
  return `${algorithm}:${(hex ?? '').slice(0, 12)}…`;
}
