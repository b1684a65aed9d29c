/**
 * The names a store keeps for itself, in one place. An image's key is
 * `destinationPrefix + destination.path`; with an empty or unusual prefix it
 * could land on one of these and overwrite the signed catalogue, forge
 * metadata or replace a boot manifest. So every image key is checked against
 * this list on the *joined* key, by `validate` (with file:line:col) and again
 * by the store layer before any byte is written or deleted.
 *
 *     index.json, index.json.minisig    the signed catalogue
 *     metadata/…                        one document per image (the commit marker)
 *     channels/…                        channel pointers (signed)
 *     boot/…                            boot manifests (signed)
 *     any segment ".ingot…"             locks, lock probes, temporary files
 *
 * Keys also form a tree in a directory store: "a" (a file) and "a/b" (which
 * needs "a" to be a directory) cannot both exist, so such pairs are refused too.
 */
import { ErrorCode, ExitCode, IngotError } from '../errors.js';

/** The catalogue's key; its signature is INDEX_KEY + SIGNATURE_SUFFIX. */
export const INDEX_KEY = 'index.json';
/** A signed object's signature lives at `<key>.minisig`. */
export const SIGNATURE_SUFFIX = '.minisig';
export const METADATA_PREFIX = 'metadata/';
export const CHANNELS_PREFIX = 'channels/';
export const BOOT_PREFIX = 'boot/';

/** First segments no image may use (compared case-insensitively: some filesystems fold case). */
const RESERVED_FILES = new Map<string, string>([
  [INDEX_KEY, "the store's signed catalogue"],
  [`${INDEX_KEY}${SIGNATURE_SUFFIX}`, "the signature of the store's catalogue"],
]);
const RESERVED_AREAS = new Map<string, string>([
  ['metadata', 'image metadata'],
  ['channels', 'channel pointers'],
  ['boot', 'boot manifests'],
]);

/** Why an image may not be stored under `key` (a store-relative key), or undefined. */
export function reservedKeyProblem(key: string): string | undefined {
  const segments = key.split('/');
  const first = (segments[0] ?? '').toLowerCase();
  const file = RESERVED_FILES.get(first);
  if (file !== undefined) return segments.length === 1 ? `is ${file} ("${segments[0]}")` : `is inside "${segments[0]}", the name of ${file}`;
  const area = RESERVED_AREAS.get(first);
  if (area !== undefined) return `is inside the store's reserved "${segments[0]}/" area (${area})`;
  const own = segments.find((s) => s.toLowerCase().startsWith('.ingot'));
  if (own !== undefined) return `uses the reserved ".ingot" name prefix ("${own}": locks and temporary files)`;
  return undefined;
}

/**
 * The most ingot reads of each kind of small object. Signed objects are read
 * whole before their signature is checked, so these bound what a hostile
 * store can make a host hold in memory; each is far above real documents
 * (an index entry is ~600 bytes: 64 MiB lists ~100,000 images).
 */
export const READ_LIMITS = {
  index: 64 * 2 ** 20,
  signature: 16 * 2 ** 10,
  channel: 16 * 2 ** 20,
  bootManifest: 2 ** 20,
  metadata: 2 ** 20,
  other: 16 * 2 ** 20,
} as const;

/** The read limit for a signed object (or its `.minisig`) at `key`. */
export function readLimitFor(key: string): number {
  if (key.endsWith(SIGNATURE_SUFFIX)) return READ_LIMITS.signature;
  if (key === INDEX_KEY) return READ_LIMITS.index;
  if (key.startsWith(CHANNELS_PREFIX)) return READ_LIMITS.channel;
  if (key.startsWith(BOOT_PREFIX)) return READ_LIMITS.bootManifest;
  if (key.startsWith(METADATA_PREFIX)) return READ_LIMITS.metadata;
  return READ_LIMITS.other;
}

/** The error for an object over its read limit (seen in its size, or while reading it). */
export function objectTooLarge(key: string, store: string, limit: number, size?: number): IngotError {
  const where = `${store.replace(/\/$/, '')}/${key}`;
  return new IngotError(
    ErrorCode.objectTooLarge,
    `${where} is ${size === undefined ? 'larger than' : `${size} bytes, over`} the ${limit} bytes ingot reads of it`,
    {
      path: key,
      expected: `<= ${limit}`,
      ...(size === undefined ? {} : { actual: String(size) }),
      hint: 'the store holds an oversized (damaged or hostile) object; nothing was read past the limit and nothing was trusted. Re-publish or re-sign the store',
    },
  );
}

/** The store key of an image's metadata document. */
export function metadataKeyFor(destinationPath: string): string {
  return `${METADATA_PREFIX}${destinationPath}.json`;
}

/** Two keys of which one would have to be a directory holding the other. */
export interface KeyCollision<T> {
  /** The shorter key, a file where the other needs a directory. */
  file: string;
  fileOwner: T;
  /** The longer key, below `file`. */
  nested: string;
  nestedOwner: T;
}

/**
 * Every file/directory collision among `keys` ("a" next to "a/b"), in one
 * pass: each key's ancestors are looked up in a map, so the cost is the total
 * number of path segments, not the number of pairs.
 */
export function keyCollisions<T>(keys: Iterable<[key: string, owner: T]>): KeyCollision<T>[] {
  const owners = new Map<string, T>();
  for (const [key, owner] of keys) if (!owners.has(key)) owners.set(key, owner);
  const out: KeyCollision<T>[] = [];
  for (const [key, owner] of owners) {
    let slash = key.indexOf('/');
    while (slash > 0) {
      const ancestor = key.slice(0, slash);
      const fileOwner = owners.get(ancestor);
      if (fileOwner !== undefined) {
        out.push({ file: ancestor, fileOwner, nested: key, nestedOwner: owner });
        break; // one report per nested key is enough
      }
      slash = key.indexOf('/', slash + 1);
    }
  }
  return out;
}

/** The store layer's last line of defence: throws unless `key` may hold image bytes. */
export function assertImageKey(key: string, image?: string): void {
  const problem = reservedKeyProblem(key);
  if (problem) {
    throw new IngotError(ErrorCode.destinationConflict, `refusing to store an image under "${key}": it ${problem}`, {
      path: key,
      ...(image ? { image } : {}),
      hint: 'choose a destination.path (and destinationPrefix) outside index.json*, metadata/, channels/ and boot/; `ingot validate` reports this with file:line:col',
      exitCode: ExitCode.usage,
    });
  }
}
