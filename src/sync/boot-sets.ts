/**
 * Boot sets: after the images are published, each `spec.bootSets` entry pairs
 * a published kernel with a published initramfs and writes a boot manifest
 * (boot/<name>.json, plus boot/<name>.json.minisig when a signing key is
 * configured) from their stored metadata. An unchanged manifest is left alone.
 */
import { ErrorCode, IngotError, asIngotError } from '../errors.js';
import { bootManifestBytes, buildBootManifest } from '../initramfs/boot-manifest.js';
import type { Logger } from '../log/logger.js';
import type { BootSet, Manifest } from '../manifest/types.js';
import type { ImageStore } from '../store/image-store.js';
import type { ImageMetadata } from '../store/metadata.js';
import type { SecretKey } from '../trust/keys.js';

export { BOOT_PREFIX } from '../store/layout.js';
import { BOOT_PREFIX, readLimitFor } from '../store/layout.js';

export interface BootSetOutcome {
  name: string;
  key: string;
  status: 'published' | 'unchanged' | 'failed';
  reason: string;
  error?: IngotError;
}

export async function publishBootSets(
  manifest: Manifest,
  store: ImageStore,
  options: { signingKey?: SecretKey; log: Logger; signal?: AbortSignal; now?: Date },
): Promise<BootSetOutcome[]> {
  const outcomes: BootSetOutcome[] = [];
  for (const set of manifest.bootSets) {
    const key = `${BOOT_PREFIX}${set.name}.json`;
    const log = options.log.child({ image: `boot:${set.name}` });
    try {
      const kernel = await published(manifest, store, set, 'kernel', options.signal);
      const initramfs = await published(manifest, store, set, 'initramfs', options.signal);
      const source = initramfs.source as { version?: unknown; buildId?: unknown };
      const bytes = bootManifestBytes(
        buildBootManifest({
          name: set.name,
          kernel: { version: set.kernel.version, buildId: set.kernel.buildId, sha256: kernel.sha256, configSha256: set.kernel.configSha256 },
          initramfs: {
            guestInitVersion: set.initramfs.guestInitVersion ?? String(source.version ?? initramfs.version ?? ''),
            guestInitProtocol: set.initramfs.guestInitProtocol,
            buildId: set.initramfs.buildId ?? String(source.buildId ?? ''),
            sha256: initramfs.sha256,
            sizeBytes: initramfs.size,
          },
          compatibility: set.compatibility,
        }),
      );
      const current = await store.backend.get(key, options.signal, { maxBytes: readLimitFor(key) }).catch((e: unknown) => {
        if (e instanceof IngotError && e.code === ErrorCode.objectTooLarge) return undefined; // replaced below
        throw e;
      });
      const signatureMissing = options.signingKey ? !(await store.backend.stat(`${key}.minisig`, options.signal)) : false;
      if (current?.equals(bytes) && !signatureMissing) {
        log.info('boot manifest unchanged', { step: 'boot-set', key });
        outcomes.push({ name: set.name, key, status: 'unchanged', reason: 'boot manifest unchanged' });
        continue;
      }
      if (options.signingKey) {
        const { putSigned } = await import('../trust/signed-object.js');
        await putSigned(store.backend, key, bytes, options.signingKey, { now: options.now ?? new Date(), signal: options.signal });
      } else {
        await store.backend.put(key, bytes, options.signal);
      }
      log.info('boot manifest published', { step: 'boot-set', key, signed: Boolean(options.signingKey) });
      outcomes.push({ name: set.name, key, status: 'published', reason: current ? 'boot manifest changed' : 'new boot set' });
    } catch (thrown) {
      const error = asIngotError(thrown);
      log.error(`failed: ${error.message}`, { step: 'boot-set', code: error.code });
      outcomes.push({ name: set.name, key, status: 'failed', reason: error.message, error });
    }
  }
  return outcomes;
}

async function published(manifest: Manifest, store: ImageStore, set: BootSet, part: 'kernel' | 'initramfs', signal?: AbortSignal): Promise<ImageMetadata> {
  const name = set[part].image;
  const image = manifest.images.find((i) => i.name === name);
  const read = image ? await store.readMetadata(image.path, signal) : undefined;
  if (read?.status !== 'present') {
    throw new IngotError(ErrorCode.bootManifestInvalid, `boot set "${set.name}": the ${part} image "${name}" is not published`, {
      image: name,
      hint: 'sync the image first (it failed or was left out with --only/--shard)',
    });
  }
  return read.metadata;
}
