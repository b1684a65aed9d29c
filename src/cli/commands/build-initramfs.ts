/** `ingot build initramfs -m FILE NAME --out DIR`: builds one initramfs image from the manifest, without a store. */
import * as path from 'node:path';
import { initramfsSpec, type InitramfsSource } from '../../acquire/initramfs.js';
import { ExitCode, IngotError, ErrorCode, UsageError } from '../../errors.js';
import { artifactName, writeInitramfsArtifact } from '../../initramfs/artifact.js';
import { suggest } from '../../manifest/problems.js';
import { formatBytes } from '../../transform/decompress.js';
import { str, type Command } from '../command.js';
import { manifestOption, requireManifest } from '../resolve.js';

export const command: Command = {
  name: 'build initramfs',
  summary: 'Build one reproducible initramfs image from the manifest into a directory',
  usage: 'build initramfs [-m FILE] NAME [--out DIR]',
  description: [
    'NAME is the image in the manifest (source.type: initramfs). The image is written as',
    'initramfs-<name>-<version>-<build_id>.img when source.version (or the image version) and',
    'source.buildId are given, else <name>.img, with a .sha256 sidecar beside it.',
    'mtimes come from SOURCE_DATE_EPOCH (else 0): the same inputs give the same bytes.',
  ].join('\n'),
  positionals: true,
  options: {
    ...manifestOption,
    out: { type: 'string', short: 'o', valueName: 'DIR', description: 'Output directory (default: the current directory)' },
  },
  async run(args, ctx) {
    const [name, ...extra] = args.positionals;
    if (!name || extra.length > 0) throw new UsageError('expected exactly one image NAME', { hint: 'ingot build initramfs -m images.yaml NAME --out DIR' });
    const manifest = await requireManifest(args, ctx);
    const image = manifest.images.find((i) => i.name === name);
    if (!image) {
      const initramfs = manifest.images.filter((i) => i.source.type === 'initramfs').map((i) => i.name);
      const guess = suggest(name, initramfs);
      throw new UsageError(`no image "${name}" in ${path.relative(ctx.cwd, manifest.file) || manifest.file}${guess ? `; did you mean "${guess}"?` : ''}`, {
        hint: initramfs.length ? `initramfs images: ${initramfs.join(', ')}` : 'the manifest declares no image with source.type: initramfs',
      });
    }
    if (image.source.type !== 'initramfs') {
      throw new IngotError(ErrorCode.usage, `image "${name}" is built from a ${image.source.type} source, not initramfs`, { exitCode: ExitCode.usage });
    }
    const source = image.source as InitramfsSource;
    const spec = initramfsSpec(source, manifest.root, ctx.env, `initramfs "${name}"`);
    const fileName = artifactName(name, source.version ?? image.version, source.buildId);
    const outDir = path.resolve(ctx.cwd, str(args, 'out') ?? '.');
    const started = Date.now();
    const written = await writeInitramfsArtifact(spec, outDir, fileName, { signal: ctx.signal, env: ctx.env });
    const durationMs = Date.now() - started;
    ctx.log.info('built initramfs', { image: name, entries: written.entries, bytes: written.size, durationMs, compressor: written.compressor });
    ctx.out.result(
      {
        name,
        file: written.file,
        sidecar: written.sidecar,
        sha256: written.sha256,
        size: written.size,
        entries: written.entries,
        compressor: written.compressor,
        mtime: spec.mtime,
        durationMs,
      },
      () => [
        `${written.sha256.slice(7)}  ${path.relative(ctx.cwd, written.file) || written.file}`,
        `${written.entries} entries, ${formatBytes(written.size)} (${written.compressor})`,
      ],
    );
  },
};
