/**
 * Initramfs build time against the GNU pipeline, and the kernel's unpack time.
 *
 *   node --import tsx bench/initramfs.bench.ts [--runs N] [--no-boot]
 *
 * 1. Generates a ~10 MiB tree (text, binary-like and random files, nested
 *    directories, symlinks), the same bytes on every run.
 * 2. Times `ingot`'s builder (gzip -6, like `gzip -n`) and
 *    `find . | LC_ALL=C sort | cpio --reproducible -o -H newc | gzip -n`
 *    alternately, N runs each, and prints the medians and their ratio
 *    (target: ≤ 1.2×).
 * 3. Boots the built image once (plus busybox and an /init that powers off)
 *    with the Debian kernel and `printk.time=1`, and reads the time between
 *    "Trying to unpack rootfs image as initramfs" and "Freeing initrd memory".
 */
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { run } from '../src/exec/run.js';
import { which } from '../src/exec/which.js';
import { buildInitramfs, type InitramfsBuildSpec } from '../src/initramfs/builder.js';
import { bootKernel } from '../src/vm/qemu-boot.js';
import { figure, median } from './lib.js';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] || 0) || 5;
const boot = !process.argv.includes('--no-boot');

function noise(seed: number, size: number): Buffer {
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

/** ~10 MiB: 40% text-like (compresses well), 40% low-entropy binary, 20% random; sizes 100 B – 16 KiB, every tenth file up to 240 KiB. */
async function makeTree(root: string): Promise<{ files: number; bytes: number }> {
  const words = 'kernel init mount proc sys dev console busybox guest agent vsock overlay pivot root network volume secret'.split(' ');
  let bytes = 0;
  let files = 0;
  let seed = 1;
  while (bytes < 10 * 2 ** 20) {
    const dir = path.join(root, `d${files % 7}`, `s${files % 13}`);
    await fs.mkdir(dir, { recursive: true });
    const size = 100 + ((seed * 7919) % 16_000) * (files % 10 === 0 ? 15 : 1);
    const kind = files % 5;
    let data: Buffer;
    if (kind < 2) {
      const parts: string[] = [];
      for (let i = 0, len = 0; len < size; i++) {
        const w = words[(seed + i * 31) % words.length]!;
        parts.push(w);
        len += w.length + 1;
      }
      data = Buffer.from(parts.join(' ').slice(0, size));
    } else if (kind < 4) {
      data = Buffer.from(noise(seed, size).map((b) => (b < 200 ? 0 : b)));
    } else {
      data = noise(seed, size);
    }
    await fs.writeFile(path.join(dir, `f${files}.bin`), data);
    if (files % 50 === 0) await fs.symlink(`f${files}.bin`, path.join(dir, `l${files}`));
    bytes += size;
    files++;
    seed++;
  }
  return { files, bytes };
}

async function time(fn: () => Promise<void>): Promise<number> {
  const started = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

async function main(): Promise<void> {
  for (const tool of ['cpio', 'gzip', 'find', 'sort']) if (!which(tool)) throw new Error(`${tool} is needed (apt-get install cpio gzip findutils coreutils)`);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ingot-bench-initramfs-'));
  try {
    const tree = path.join(dir, 'tree');
    const made = await makeTree(tree);
    console.log(`tree: ${made.files} files, ${(made.bytes / 2 ** 20).toFixed(1)} MiB; ${runs} runs each, alternating`);
    const spec: InitramfsBuildSpec = { entries: [], tree, compression: 'gzip', sizeLimit: 2 ** 31, mtime: 0 };
    const ours = path.join(dir, 'ingot.img');
    const gnu = path.join(dir, 'gnu.img');
    const script = `cd "$1" && find . | LC_ALL=C sort | cpio --reproducible -o -H newc --quiet | gzip -n > "$2"`;
    const ingotTimes: number[] = [];
    const gnuTimes: number[] = [];
    // One warm-up of each (page cache, JIT), then alternate so drift hits both equally.
    await pipeline((await buildInitramfs(spec)).stream, createWriteStream(ours));
    await run('sh', ['-c', script, 'sh', tree, gnu]);
    for (let i = 0; i < runs; i++) {
      ingotTimes.push(await time(async () => pipeline((await buildInitramfs(spec)).stream, createWriteStream(ours))));
      gnuTimes.push(await time(async () => void (await run('sh', ['-c', script, 'sh', tree, gnu]))));
    }
    const [a, b] = [median(ingotTimes), median(gnuTimes)];
    const [sa, sb] = [(await fs.stat(ours)).size, (await fs.stat(gnu)).size];
    console.log(`ingot build initramfs (gzip -6):        ${a.toFixed(0).padStart(6)} ms  ${sa} bytes   runs: ${ingotTimes.map((x) => x.toFixed(0)).join(' ')}`);
    console.log(`find|sort|cpio --reproducible|gzip -n:  ${b.toFixed(0).padStart(6)} ms  ${sb} bytes   runs: ${gnuTimes.map((x) => x.toFixed(0)).join(' ')}`);
    console.log(`ratio ingot / GNU: ${(a / b).toFixed(2)}× (target ≤ 1.20×) ${a / b <= 1.2 ? 'OK' : 'OVER TARGET'}`);
    figure('initramfs.ratio_gnu', a / b, 'x', { op: '<=', limit: 1.2 });

    if (boot) await unpackTime(dir, tree);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function unpackTime(dir: string, tree: string): Promise<void> {
  const kernel = (await fs.readdir('/boot').catch(() => [] as string[]))
    .filter((n) => n.startsWith('vmlinuz-'))
    .sort()
    .pop();
  const busybox = which('busybox');
  if (!kernel || !busybox || !which('qemu-system-x86_64')) {
    console.log('unpack time: skipped (needs /boot/vmlinuz-*, busybox-static and qemu-system-x86)');
    return;
  }
  const image = path.join(dir, 'boot.img');
  const built = await buildInitramfs({
    entries: [
      { type: 'file', path: 'bin/busybox', source: busybox, mode: 0o755 },
      { type: 'file', path: 'init', content: '#!/bin/busybox sh\necho "UNPACK-BENCH-$((1+1))"\n/bin/busybox poweroff -f\n', mode: 0o755 },
      { type: 'char', path: 'dev/console', major: 5, minor: 1 },
    ],
    tree,
    compression: 'gzip',
    sizeLimit: 2 ** 31,
    mtime: 0,
  });
  await pipeline(built.stream, createWriteStream(image));
  let consoleText = '';
  const result = await bootKernel({
    kernel: path.join('/boot', kernel),
    initrd: image,
    append: 'printk.time=1',
    expect: 'UNPACK-BENCH-2',
    timeoutMs: 180_000,
    onConsole: (text) => (consoleText += text),
  });
  const at = (pattern: RegExp) => {
    const match = new RegExp(`\\[\\s*(\\d+\\.\\d+)\\][^\\n]*${pattern.source}`).exec(consoleText);
    return match ? Number(match[1]) : undefined;
  };
  const start = at(/Trying to unpack rootfs image as initramfs|Unpacking initramfs/);
  const end = at(/Freeing initrd memory/);
  const size = (await fs.stat(image)).size;
  if (!result.ok || start === undefined || end === undefined) {
    console.log(`unpack time: not measured (boot ${result.outcome} under ${result.accelerator})\n${result.consoleTail}`);
    return;
  }
  console.log(
    `kernel unpack of a ${(size / 2 ** 20).toFixed(1)} MiB gzip initramfs: ${((end - start) * 1000).toFixed(0)} ms (printk ${start.toFixed(3)} → ${end.toFixed(3)} s, under ${result.accelerator}; marker after ${((result.matchedAfterMs ?? 0) / 1000).toFixed(1)} s)`,
  );
}

await main();
