/**
 * Signing a store's catalogue: called by `sync` at the end of a run (with the
 * store lock held) and by `ingot sign`. Re-signing is skipped when nothing
 * changed and the current index still has more than half its validity left,
 * so a no-change sync does not churn versions; every index that is written
 * gets a new version.
 */
import { ErrorCode, IngotError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { ImageStore } from '../store/image-store.js';
import { readLimitFor } from '../store/layout.js';
import {
  collectEntries,
  DEFAULT_INDEX_EXPIRY_MS,
  entriesByMetadataKey,
  INDEX_KEY,
  indexFrom,
  parseIndex,
  sameEntries,
  serializeIndex,
  type Index,
} from './catalogue.js';
import type { SecretKey } from './keys.js';
import { getVerified, putSigned } from './signed-object.js';

/** Options of `signStoreIndex` (the lead's sync passes expiresInMs, log, signal). */
export interface SignStoreOptions {
  /** Validity of the new index (default 7 days). */
  expiresInMs?: number;
  log: Logger;
  signal?: AbortSignal;
  /** Re-sign even when nothing changed (`ingot sign`). */
  force?: boolean;
  now?: Date;
}

/** Writes index.json and index.json.minisig when the catalogue changed or is due for renewal. */
export async function signStoreIndex(store: ImageStore, key: SecretKey, options: SignStoreOptions): Promise<{ version: number; changed: boolean }> {
  const now = options.now ?? new Date();
  const expiresInMs = options.expiresInMs ?? DEFAULT_INDEX_EXPIRY_MS;
  if (!(expiresInMs > 0)) throw new IngotError(ErrorCode.usage, `index expiry must be positive, got ${expiresInMs} ms`, { exitCode: 2 });
  const previous = await readPrevious(store, key, options);
  // Entries of our own index whose metadata is unchanged since (same listing validator) are kept without a read.
  const images = await collectEntries(store, options.log, options.signal, previous?.trusted ? entriesByMetadataKey(previous.index) : undefined);

  // An index without a storeId (signed by an older ingot) is re-signed once to gain one.
  if (previous?.trusted && !options.force && previous.index.storeId !== undefined && sameEntries(previous.index.images, images)) {
    const remaining = Date.parse(previous.index.expires) - now.getTime();
    if (remaining > expiresInMs / 2) {
      options.log.debug('index unchanged', { version: previous.index.version, expires: previous.index.expires });
      return { version: previous.index.version, changed: false };
    }
  }
  // The store id is kept only from an index our key signed: a forged one must not pick this store's identity.
  const index = indexFrom(images, {
    previous: previous ? { ...previous.index, storeId: previous.trusted ? previous.index.storeId : undefined } : undefined,
    expiresInMs,
    now,
  });
  await putSigned(store.backend, INDEX_KEY, Buffer.from(serializeIndex(index)), key, {
    now,
    extra: { version: index.version },
    signal: options.signal,
  });
  options.log.info('signed index', { version: index.version, images: images.length, expires: index.expires });
  return { version: index.version, changed: true };
}

/**
 * The index in the store now. Its version is the floor for the next one even
 * when its signature is not ours (a damaged or foreign index must not let the
 * version go down: hosts would refuse the new one as a rollback).
 */
async function readPrevious(store: ImageStore, key: SecretKey, options: SignStoreOptions): Promise<{ index: Index; trusted: boolean } | undefined> {
  let trusted = true;
  let bytes: Buffer | undefined;
  try {
    bytes = (await getVerified(store.backend, INDEX_KEY, key.publicKey, { signal: options.signal, retryDelayMs: 0 }))?.bytes;
  } catch (error) {
    if (!(error instanceof IngotError)) throw error;
    options.log.warn('the current index does not verify with the signing key: replacing it', { code: error.code, reason: error.message });
    trusted = false;
    bytes = await store.backend.get(INDEX_KEY, options.signal, { maxBytes: readLimitFor(INDEX_KEY) }).catch((e: unknown) => {
      // An oversized index is no floor at all: it cannot be read, so the version restarts above nothing we know.
      if (e instanceof IngotError && e.code === ErrorCode.objectTooLarge) return undefined;
      throw e;
    });
  }
  if (!bytes) return undefined;
  try {
    return { index: parseIndex(bytes), trusted };
  } catch {
    const version = Number((/"version"\s*:\s*(\d+)/.exec(bytes.toString('utf8')) ?? [])[1] ?? 0);
    return { index: { schemaVersion: 1, version, generatedAt: '', expires: '', images: [] }, trusted: false };
  }
}
