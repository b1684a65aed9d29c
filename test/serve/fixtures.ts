// A store with several families, channels with history, a boot set and a signed index (any backend).
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { silentLogger } from '../../src/log/logger.js';
import { FsBackend } from '../../src/store/fs-backend.js';
import { ImageStore } from '../../src/store/image-store.js';
import type { ImageMetadata } from '../../src/store/metadata.js';
import { bootManifestBytes, buildBootManifest } from '../../src/initramfs/boot-manifest.js';
import { rollbackChannel, setChannel } from '../../src/trust/channels.js';
import { writeKeyPair } from '../../src/trust/key-files.js';
import { generateSecretKey, type SecretKey } from '../../src/trust/keys.js';
import { putSigned } from '../../src/trust/signed-object.js';
import { signStoreIndex } from '../../src/trust/sign-store.js';
import { bytesFor, publish, tempDir, type TestImage } from '../cache/fixtures.js';

/** The images every catalogue store holds (sizes small: the tests read them often). */
export const CATALOGUE_IMAGES: TestImage[] = [
  { path: 'talos/talos-1.9.0-amd64.raw', bytes: bytesFor('talos-1.9.0', 96 * 1024), name: 'talos-1.9.0', family: 'talos', version: '1.9.0' },
  { path: 'talos/talos-1.9.1-amd64.raw', bytes: bytesFor('talos-1.9.1', 128 * 1024 + 7), name: 'talos-1.9.1', family: 'talos', version: '1.9.1' },
  { path: 'talos/talos-1.10.0-amd64.raw', bytes: bytesFor('talos-1.10.0', 160 * 1024 + 3), name: 'talos-1.10.0', family: 'talos', version: '1.10.0' },
  { path: 'vyos/vyos-gateway-20241220.raw', bytes: bytesFor('vyos-1', 64 * 1024), name: 'vyos-gateway', family: 'vyos', version: '2024.12.20' },
  { path: 'vyos/vyos-gateway-20250110.raw', bytes: bytesFor('vyos-2', 80 * 1024), name: 'vyos-gateway-next', family: 'vyos', version: '2025.01.10' },
  // A name meant to break a page that forgets to escape.
  { path: 'misc/odd.iso', bytes: bytesFor('odd', 10 * 1024), name: '<img src=x onerror="document.title=\'pwned\'">odd', version: '1.0 "beta" & <b>' },
  { path: 'boot/vmlinuz-test', bytes: bytesFor('kernel', 40 * 1024), name: 'kernel-test' },
  { path: 'boot/initramfs-test.img', bytes: bytesFor('initramfs', 30 * 1024), name: 'initramfs-test' },
];

export interface CatalogueStore {
  dir: string;
  store: ImageStore;
  key: SecretKey;
  /** The public key file (ingot.pub). */
  publicKeyFile: string;
  published: Map<string, ImageMetadata>;
}

/** Publishes the images, moves channels (with a rollback), writes a signed boot set and signs the index. */
export async function populate(store: ImageStore, key: SecretKey): Promise<Map<string, ImageMetadata>> {
  const published = new Map<string, ImageMetadata>();
  for (const image of CATALOGUE_IMAGES) published.set(image.path, await publish(store, image));
  const move = (family: string, channel: string, version: string) => setChannel(store, key, { family, channel, version, log: silentLogger });
  await move('talos', 'stable', '1.9.0');
  await move('talos', 'stable', '1.9.1');
  await move('talos', 'canary', '1.10.0');
  await move('talos', 'stable', '1.10.0');
  await rollbackChannel(store, key, { family: 'talos', channel: 'stable', log: silentLogger });
  await move('vyos', 'stable', '2024.12.20');
  const kernel = published.get('boot/vmlinuz-test')!;
  const initramfs = published.get('boot/initramfs-test.img')!;
  const boot = bootManifestBytes(
    buildBootManifest({
      name: 'lab',
      kernel: { version: '6.1.0', buildId: 'debian-1', sha256: kernel.sha256, configSha256: `sha256:${'c'.repeat(64)}` },
      initramfs: { guestInitVersion: '1.0.0', guestInitProtocol: 1, buildId: 'b1', sha256: initramfs.sha256, sizeBytes: initramfs.size },
      compatibility: { minAgentVersion: '1.0.0', supportedProtocols: [1] },
    }),
  );
  await putSigned(store.backend, 'boot/lab.json', boot, key, { now: new Date() });
  await signStoreIndex(store, key, { log: silentLogger, force: true });
  return published;
}

/** A directory store with the catalogue content and a key pair on disk. */
export async function catalogueStore(t: { after(fn: () => Promise<void>): void }): Promise<CatalogueStore> {
  const dir = await tempDir(t, 'ingot-serve-');
  const store = new ImageStore(new FsBackend(path.join(dir, 'store')));
  const key = generateSecretKey();
  const { publicFile } = await writeKeyPair(path.join(dir, 'keys'), key);
  const published = await populate(store, key);
  return { dir, store, key, publicKeyFile: publicFile, published };
}

/** Where test artefacts (screenshots, DOM dumps) go: test/.work/ (git-ignored). */
export async function artefactDir(name: string): Promise<string> {
  const dir = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '.work', name);
  await fs.mkdir(dir, { recursive: true });
  return dir;
}
