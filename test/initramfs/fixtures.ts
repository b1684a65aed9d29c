/** Fixtures for the initramfs tests: a generated tree with every kind of member, and helpers to build it. */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { run } from '../../src/exec/run.js';
import { buildInitramfs, type EntryInput, type InitramfsBuildSpec } from '../../src/initramfs/builder.js';

export async function tempDir(t: { after(fn: () => Promise<void>): void }, prefix = 'ingot-initramfs-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Deterministic pseudo-random bytes (so "random" content is the same on every run). */
export function noise(seed: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * A tree with directories, files of several modes (setuid included), a
 * symlink, a hard-link pair, a fifo and an empty file.
 */
export async function makeTree(root: string): Promise<void> {
  await fs.mkdir(path.join(root, 'bin'), { recursive: true });
  await fs.mkdir(path.join(root, 'etc/ssl'), { recursive: true });
  await fs.mkdir(path.join(root, 'var/empty'), { recursive: true });
  await fs.writeFile(path.join(root, 'bin/tool'), noise(1, 70_001));
  await fs.chmod(path.join(root, 'bin/tool'), 0o755);
  await fs.writeFile(path.join(root, 'bin/suid'), 'setuid helper\n');
  await fs.chmod(path.join(root, 'bin/suid'), 0o4755);
  await fs.link(path.join(root, 'bin/tool'), path.join(root, 'bin/tool-alias'));
  await fs.symlink('tool', path.join(root, 'bin/link'));
  await fs.symlink('/etc/ssl/ca.pem', path.join(root, 'etc/ca-abs'));
  await fs.writeFile(path.join(root, 'etc/ssl/ca.pem'), 'x'.repeat(3000));
  await fs.chmod(path.join(root, 'etc/ssl/ca.pem'), 0o600);
  await fs.writeFile(path.join(root, 'etc/empty'), '');
  await fs.chmod(path.join(root, 'var/empty'), 0o700);
  await run('mkfifo', ['-m', '0640', path.join(root, 'var/pipe')]);
}

/** Entries added on top of the tree: devices (no mknod needed on disk), inline content, owners. */
export function extraEntries(): EntryInput[] {
  return [
    { type: 'char', path: 'dev/console', major: 5, minor: 1, mode: 0o600 },
    { type: 'char', path: 'dev/null', major: 1, minor: 3, mode: 0o666 },
    { type: 'block', path: 'dev/vda', major: 254, minor: 0, mode: 0o660, gid: 4244 },
    { type: 'file', path: 'init', content: '#!/bin/sh\nexec /bin/tool\n', mode: 0o755 },
    { type: 'file', path: 'home/user/owned', content: 'mine\n', uid: 4242, gid: 4243 },
    { type: 'directory', path: 'etc', mode: 0o751 },
  ];
}

export function spec(tree: string | undefined, patch: Partial<InitramfsBuildSpec> = {}): InitramfsBuildSpec {
  return {
    entries: extraEntries(),
    ...(tree ? { tree, treeModes: 'preserve' as const } : {}),
    compression: 'gzip',
    sizeLimit: 20 * 2 ** 20,
    mtime: 1_700_000_000,
    ...patch,
  };
}

/** Builds to memory (fixtures are small). */
export async function buildBytes(s: InitramfsBuildSpec): Promise<Buffer> {
  return buffer((await buildInitramfs(s)).stream);
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
