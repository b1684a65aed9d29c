/**
 * Where a manifest is looked for when no `-m` is given: `./images.yaml`, then
 * `./images/images.yaml` (the GitOps pipeline's layout, where the manifest
 * lives beside its SOPS credentials).
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';

export const MANIFEST_LOCATIONS = ['images.yaml', 'images/images.yaml'] as const;

/** The first manifest found under `dir`, or undefined. */
export function findManifest(dir: string): string | undefined {
  for (const candidate of MANIFEST_LOCATIONS) {
    const file = path.resolve(dir, candidate);
    if (existsSync(file)) return file;
  }
  return undefined;
}
