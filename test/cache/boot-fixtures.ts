// Shared by the boot-set tests: an in-process CLI and a publisher repository with boot sets.
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { main } from '../../src/cli/main.js';
import { bytesFor } from './fixtures.js';
import { sha256 } from '../helpers/fixtures.js';

export async function ingot(cwd: string, ...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const stream = (sink: (s: string) => void) => ({ write: (s: string) => (sink(s), true), isTTY: false }) as unknown as NodeJS.WriteStream;
  const code = await main({ argv, env: { PATH: process.env.PATH }, cwd, stdout: stream((s) => (stdout += s)), stderr: stream((s) => (stderr += s)) });
  return { code, stdout, stderr };
}

export interface Build {
  kernel: string;
  build: string;
  guestInit: string;
  protocol: number;
  minAgent?: string;
}

export const OLD: Build = { kernel: '6.1.45', build: '20251201a', guestInit: '0.9.0', protocol: 1 };
export const NEW: Build = { kernel: '6.1.50', build: '20251217a', guestInit: '1.0.0', protocol: 1 };
export const kernelFile = (b: Build) => `vmlinuz-plfm-${b.kernel}-${b.build}`;
export const initramfsFile = (b: Build) => `initramfs-plfm-guestinit-${b.guestInit}-${b.build}.img`;

/** A publisher repository: the builds' files, a manifest whose boot set `default` is `current`, a key. */
export async function publisher(root: string, builds: Build[]) {
  await fs.mkdir(path.join(root, 'artifacts'), { recursive: true });
  const images: unknown[] = [];
  for (const b of builds) {
    for (const [file, seed] of [
      [kernelFile(b), `kernel ${b.kernel} ${b.build}`],
      [initramfsFile(b), `initramfs ${b.guestInit} ${b.build}`],
    ] as const) {
      const bytes = bytesFor(seed, 40_000 + file.length);
      await fs.writeFile(path.join(root, 'artifacts', file), bytes);
      images.push({ name: file, source: { type: 'file', path: `artifacts/${file}`, checksum: sha256(bytes) }, destination: { path: `kernels/${file}` } });
    }
  }
  const write = async (current: Build, sets: Record<string, Build> = {}) => {
    const bootSets = Object.entries({ default: current, ...sets }).map(([name, b]) => ({
      name,
      kernel: { image: kernelFile(b), version: b.kernel, buildId: b.build, configSha256: sha256(`config ${b.kernel}`) },
      initramfs: { image: initramfsFile(b), guestInitProtocol: b.protocol, guestInitVersion: b.guestInit, buildId: b.build },
      compatibility: { minAgentVersion: b.minAgent ?? '1.0.0', supportedProtocols: [b.protocol] },
    }));
    await fs.writeFile(
      path.join(root, 'images.yaml'),
      JSON.stringify(
        { apiVersion: 'ingot/v1alpha1', kind: 'ImageManifest', metadata: { name: 'kernels' }, spec: { signing: { key: 'keys/ingot.key' }, images, bootSets } },
        null,
        2,
      ),
    );
  };
  const keys = await ingot(root, 'keys', 'generate', '--out', 'keys', '--unencrypted');
  assert.equal(keys.code, 0, keys.stderr);
  return { write };
}
