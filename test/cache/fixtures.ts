// Publishing test images into a real directory store (the way sync does: upload, commit, metadata last).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../../src/digest/digest.js';
import { silentLogger } from '../../src/log/logger.js';
import type { StoreBackend } from '../../src/store/backend.js';
import { FsBackend } from '../../src/store/fs-backend.js';
import { DEFAULT_IMAGE_PREFIX, ImageStore } from '../../src/store/image-store.js';
import type { ImageMetadata } from '../../src/store/metadata.js';
import { generateSecretKey, type SecretKey } from '../../src/trust/keys.js';
import { signStoreIndex } from '../../src/trust/sign-store.js';

export interface TestImage {
  path: string;
  bytes: Buffer;
  name?: string;
  family?: string;
  version?: string;
  compatibility?: Record<string, unknown>;
}

/** A temporary directory removed after the test. */
export async function tempDir(t: { after(fn: () => Promise<void>): void }, prefix = 'ingot-cache-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Publishes bytes + metadata into the store. */
export async function publish(store: ImageStore, image: TestImage): Promise<ImageMetadata> {
  const key = store.imageKey(DEFAULT_IMAGE_PREFIX, image.path);
  const upload = await store.beginImage(key, { sizeHint: image.bytes.length });
  await pipeline(Readable.from([image.bytes]), upload.writable);
  const sha256 = `sha256:${createHash('sha256').update(image.bytes).digest('hex')}` as Digest;
  const metadata: ImageMetadata = {
    schemaVersion: 1,
    name: image.name ?? path.posix.basename(image.path),
    path: image.path,
    key,
    checksum: sha256,
    sha256,
    size: image.bytes.length,
    uploadedAt: new Date().toISOString(),
    source: { type: 'file' },
    ...(image.family ? { family: image.family } : {}),
    ...(image.version ? { version: image.version } : {}),
    ...(image.compatibility ? { compatibility: image.compatibility } : {}),
  };
  await store.commitImage(upload, metadata);
  return metadata;
}

/** A store with a signing key, plus helpers to publish and sign. */
export async function signedStore(t: {
  after(fn: () => Promise<void>): void;
}): Promise<{ dir: string; store: ImageStore; key: SecretKey; sign: (opts?: { now?: Date; expiresInMs?: number }) => Promise<number> }> {
  const dir = await tempDir(t, 'ingot-store-');
  const store = new ImageStore(new FsBackend(dir));
  const key = generateSecretKey();
  const sign = async (opts: { now?: Date; expiresInMs?: number } = {}) =>
    (await signStoreIndex(store, key, { log: silentLogger, force: true, ...opts })).version;
  return { dir, store, key, sign };
}

/** Wraps a backend, counting `read()` calls (image byte streams). */
export function countingStore(backend: StoreBackend): { store: ImageStore; reads: () => number } {
  let reads = 0;
  // Explicit delegation: FsBackend uses private fields, so its methods must run on the real instance.
  const wrapped: StoreBackend = {
    kind: backend.kind,
    displayUrl: backend.displayUrl,
    get: (key, signal, options) => backend.get(key, signal, options),
    put: (key, data, signal) => backend.put(key, data, signal),
    read: async (key, signal) => {
      reads++;
      return backend.read(key, signal);
    },
    stat: (key, signal) => backend.stat(key, signal),
    upload: (key, options) => backend.upload(key, options),
    list: (prefix, signal) => backend.list(prefix, signal),
    delete: (keys, signal) => backend.delete(keys, signal),
    lock: (options) => backend.lock(options),
    close: () => backend.close(),
  };
  return { store: new ImageStore(wrapped), reads: () => reads };
}

/** Deterministic pseudo-random bytes (distinct per seed). */
export function bytesFor(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(seed).digest();
  for (let i = 0; i < size; i += 32) {
    block.copy(out, i);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/** A kernel + initramfs pair for boot-set tests: file names as the guest-init document has them. */
export interface TestBootPair {
  kernel: TestImage & { version: string; buildId: string };
  initramfs: TestImage & { guestInitVersion: string; buildId: string };
}

/** The pair of build `n` (distinct bytes and file names per build). */
export function testBootPair(n: number, size = 3000): TestBootPair {
  const build = `2025120${n}a`;
  const kernelFile = `vmlinuz-plfm-6.1.${n}-${build}`;
  const initramfsFile = `initramfs-plfm-guestinit-1.0.${n}-${build}.img`;
  return {
    kernel: { path: `kernels/${kernelFile}`, bytes: bytesFor(`kernel ${n}`, size), version: `6.1.${n}`, buildId: build },
    initramfs: { path: `kernels/${initramfsFile}`, bytes: bytesFor(`initramfs ${n}`, size + 7), guestInitVersion: `1.0.${n}`, buildId: build },
  };
}

/** Publishes both images of a pair (sign the index afterwards). */
export async function publishBootPair(store: ImageStore, pair: TestBootPair): Promise<void> {
  await publish(store, pair.kernel);
  await publish(store, pair.initramfs);
}

/**
 * Signs and writes boot/<set>.json for `pair` as sync does; `now` is the
 * signature's timestamp (the boot manifest's replay floor has one-second resolution).
 */
export async function signBootManifest(store: ImageStore, key: SecretKey, set: string, pair: TestBootPair, now: Date): Promise<void> {
  const { bootManifestBytes, buildBootManifest } = await import('../../src/initramfs/boot-manifest.js');
  const { putSigned } = await import('../../src/trust/signed-object.js');
  const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const bytes = bootManifestBytes(
    buildBootManifest({
      name: set,
      kernel: {
        version: pair.kernel.version,
        buildId: pair.kernel.buildId,
        sha256: hex(pair.kernel.bytes),
        configSha256: hex(Buffer.from(`config ${pair.kernel.version}`)),
      },
      initramfs: {
        guestInitVersion: pair.initramfs.guestInitVersion,
        guestInitProtocol: 1,
        buildId: pair.initramfs.buildId,
        sha256: hex(pair.initramfs.bytes),
        sizeBytes: pair.initramfs.bytes.length,
      },
      compatibility: { minAgentVersion: '1.0.0', supportedProtocols: [1] },
    }),
  );
  await putSigned(store.backend, `boot/${set}.json`, bytes, key, { now });
}
