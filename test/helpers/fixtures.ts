/**
 * Generated fixtures: compressible pseudo-disk images and their xz / zstd /
 * gzip forms made with the real tools, plus digests. Nothing is committed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
export const sha512 = (data: Buffer | string) => `sha512:${createHash('sha512').update(data).digest('hex')}`;

/** A disk-like image: runs of zeros, text and random blocks. Deterministic for a seed. */
export function diskImage(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  for (let offset = 0; offset < size; offset += 4096) {
    const kind = next() % 4;
    const end = Math.min(size, offset + 4096);
    if (kind === 0) continue; // zeros
    if (kind === 1) out.write(`block ${offset} of an ingot test image\n`.repeat(100).slice(0, end - offset), offset);
    else for (let i = offset; i < end; i += 4) out.writeUInt32LE(next(), Math.min(i, end - 4));
  }
  return out;
}

export function compress(data: Buffer, tool: 'xz' | 'zstd' | 'gzip'): Buffer {
  const args = { xz: ['-c', '-T2', '-3'], zstd: ['-c', '-q', '-3'], gzip: ['-c', '-n'] }[tool];
  return execFileSync(tool, args, { input: data, maxBuffer: 1 << 30 });
}

export function tempDir(prefix = 'ingot-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writeManifest(dir: string, images: unknown[], extra: Record<string, unknown> = {}): string {
  const file = join(dir, 'images.yaml');
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, JSON.stringify({ apiVersion: 'ingot/v1alpha1', kind: 'ImageManifest', metadata: { name: 'test' }, spec: { ...extra, images } }, null, 2));
  return file;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const BIN = new URL('../../dist/src/bin.js', import.meta.url).pathname;

/** Runs the built CLI as a child process. */
export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

export { randomBytes };
export const BIN_PATH = BIN;
