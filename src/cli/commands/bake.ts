/** `ingot bake NAME [-m FILE] [--out DIR]`: bakes one image of the manifest into a directory, without a store. */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, rename, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { bakeDriver, setBakeRunOptions, type BakeSource } from '../../acquire/bake.js';
import { ErrorCode, ExitCode, IngotError, UsageError } from '../../errors.js';
import { suggest } from '../../manifest/problems.js';
import { formatBytes } from '../../transform/decompress.js';
import { bool, str, type Command } from '../command.js';
import { manifestOption, requireManifest } from '../resolve.js';

export const command: Command = {
  name: 'bake',
  summary: 'Bake one image (base image + profiles → verified, user-agnostic image) into a directory',
  usage: 'bake [-m FILE] NAME [--out DIR] [--keep-on-failure] [--no-verify] [--accel auto|kvm|tcg]',
  description: [
    'NAME is an image of the manifest with source.type: bake. Its base (and kernel/initrd) must declare a digest:',
    'without a store they are read from their own sources and verified. The builder VM applies the profiles with a',
    'throwaway builder user and key, hardens and cleans the image, powers off; the image is converted, inspected',
    'offline, booted once as a user would (unless --no-verify) and scanned when source.scan is set.',
    'Writes DIR/<file name of destination.path>, its .sha256, the scan reports and bake.json (the facts sync records).',
    'Exit 0 when baked; 1 when a step failed (nothing is written); 2 on bad input.',
  ].join('\n'),
  positionals: true,
  options: {
    ...manifestOption,
    out: { type: 'string', short: 'o', valueName: 'DIR', description: 'Output directory (default: the current directory)' },
    'keep-on-failure': { type: 'boolean', description: 'Keep the work directory (builder disk, console logs) of a failed bake' },
    'no-verify': { type: 'boolean', description: 'Skip the verification boot' },
    accel: { type: 'string', valueName: 'auto|kvm|tcg', description: 'qemu accelerator (default auto: probe KVM, else tcg)' },
  },
  async run(args, ctx) {
    const [name, ...extra] = args.positionals;
    if (!name || extra.length > 0) throw new UsageError('expected exactly one image NAME', { hint: 'ingot bake -m images.yaml NAME --out DIR' });
    const accel = str(args, 'accel') ?? 'auto';
    if (accel !== 'auto' && accel !== 'kvm' && accel !== 'tcg') throw new UsageError(`--accel must be auto, kvm or tcg, got "${accel}"`);
    const manifest = await requireManifest(args, ctx);
    const image = manifest.images.find((i) => i.name === name);
    const baked = manifest.images.filter((i) => i.source.type === 'bake').map((i) => i.name);
    if (!image) {
      const guess = suggest(name, baked);
      throw new UsageError(`no image "${name}" in ${path.relative(ctx.cwd, manifest.file) || manifest.file}${guess ? `; did you mean "${guess}"?` : ''}`, {
        hint: baked.length ? `bake images: ${baked.join(', ')}` : 'the manifest declares no image with source.type: bake',
      });
    }
    if (image.source.type !== 'bake')
      throw new IngotError(ErrorCode.usage, `image "${name}" comes from a ${image.source.type} source, not bake`, {
        exitCode: ExitCode.usage,
        hint: baked.length ? `bake images: ${baked.join(', ')}` : undefined,
      });
    const outDir = path.resolve(ctx.cwd, str(args, 'out') ?? '.');
    await mkdir(outDir, { recursive: true });
    const signal = AbortSignal.any([ctx.signal]);
    setBakeRunOptions(signal, { keepOnFailure: bool(args, 'keep-on-failure'), accel, ...(bool(args, 'no-verify') ? { verifyBoot: false } : {}) });
    const started = Date.now();
    const acquire = { root: manifest.root, image: name, signal, log: ctx.log, http: {}, env: ctx.env, images: manifest.images };
    const opened = await bakeDriver.open(image.source as unknown as BakeSource, acquire);
    try {
      const fileName = path.basename(image.path);
      const file = path.join(outDir, fileName);
      const tmp = `${file}.partial`;
      const hash = createHash('sha256');
      let size = 0;
      await pipeline(
        opened.stream,
        new Transform({
          transform(chunk: Buffer, _e, cb) {
            hash.update(chunk);
            size += chunk.length;
            cb(null, chunk);
          },
        }),
        createWriteStream(tmp),
        { signal },
      );
      await rename(tmp, file);
      const sha256 = hash.digest('hex');
      await writeFile(`${file}.sha256`, `${sha256}  ${fileName}\n`);
      const reports: string[] = [];
      for (const a of opened.attachments ?? []) {
        const dest = `${file}${a.suffix}`;
        await copyFile(a.file, dest);
        reports.push(dest);
      }
      const facts = { name, file, sha256: `sha256:${sha256}`, size, ...opened.facts, reports, durationMs: Date.now() - started };
      await writeFile(path.join(outDir, 'bake.json'), `${JSON.stringify(facts, null, 2)}\n`);
      const scan = opened.facts.scan as { counts: Record<string, number> } | undefined;
      ctx.out.result(facts, () => [
        `${sha256}  ${path.relative(ctx.cwd, file) || file}`,
        `baked ${name}: ${formatBytes(size)} (${String(opened.facts.format)}) in ${Math.round((Date.now() - started) / 1000)} s [${String(opened.facts.accelerator)}]${opened.facts.verified ? ', verification boot passed' : ', not verified (--no-verify)'}`,
        ...(scan
          ? [
              `scan: ${Object.entries(scan.counts)
                .map(([k, v]) => `${k} ${v}`)
                .join(', ')}; reports: ${reports.map((r) => path.relative(ctx.cwd, r)).join(', ')}`,
            ]
          : []),
      ]);
    } finally {
      await opened.cleanup?.();
    }
  },
};
