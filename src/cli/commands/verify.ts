/** `ingot verify`: re-hash stored bytes against their metadata; exit 1 naming every mismatch. */
import { ExitCode } from '../../errors.js';
import { digestAlgorithm } from '../../digest/digest.js';
import { hashStream } from '../../digest/hashing.js';
import type { ImageMetadata } from '../../store/metadata.js';
import { formatBytes } from '../../transform/decompress.js';
import { mapLimit } from '../../util/concurrency.js';
import type { Command } from '../command.js';
import { intOption, manifestOption, optionalManifest, resolveStore, storeOptions } from '../resolve.js';

interface VerifyResult {
  path: string;
  ok: boolean;
  problem?: string;
  expected?: string;
  actual?: string;
  size?: number;
}

export const command: Command = {
  name: 'verify',
  summary: 'Re-hash stored images against their metadata',
  usage: 'verify [--store URL | -m FILE] [PATH…] [--json]',
  description: 'PATH is a destination path (as in the manifest); without PATH every image in the store is verified.',
  positionals: true,
  options: {
    ...manifestOption,
    ...storeOptions,
    concurrency: { type: 'string', valueName: 'N', description: 'Images hashed at once (default: 2)' },
  },
  async run(args, ctx) {
    const manifest = await optionalManifest(args, ctx);
    const store = await resolveStore(args, ctx, manifest);
    const wanted = new Set(args.positionals.map((p) => p.replace(/^\/+/, '')));
    const targets: ImageMetadata[] = [];
    const results: VerifyResult[] = [];
    try {
      for await (const { key, read } of store.listMetadata(ctx.signal)) {
        const path = key.slice('metadata/'.length, -'.json'.length);
        if (wanted.size && !wanted.has(path)) continue;
        if (read.status === 'present') targets.push(read.metadata);
        else if (read.status === 'invalid') results.push({ path, ok: false, problem: `unreadable metadata: ${read.problem}` });
      }
      for (const path of wanted) {
        if (!targets.some((t) => t.path === path) && !results.some((r) => r.path === path)) {
          results.push({ path, ok: false, problem: 'no metadata in the store for this path' });
        }
      }
      const checked = await mapLimit(targets, intOption(args, 'concurrency', 2), async (meta): Promise<VerifyResult> => {
        const log = ctx.log.child({ image: meta.name });
        const progress = ctx.progress.start(meta.name, meta.size);
        try {
          const stream = await store.backend.read(meta.key, ctx.signal);
          const { digest, size } = await hashStream(stream, digestAlgorithm(meta.checksum), (n) => progress.advance(n));
          if (digest !== meta.checksum) {
            log.error('checksum mismatch', { step: 'verify', expected: meta.checksum, actual: digest });
            return { path: meta.path, ok: false, problem: 'checksum mismatch', expected: meta.checksum, actual: digest, size };
          }
          if (size !== meta.size) return { path: meta.path, ok: false, problem: `size ${size} differs from metadata ${meta.size}`, size };
          log.info('ok', { step: 'verify', bytes: size });
          return { path: meta.path, ok: true, size };
        } catch (error) {
          return { path: meta.path, ok: false, problem: (error as Error).message };
        } finally {
          progress.done();
        }
      });
      results.push(...checked);
    } finally {
      await store.backend.close();
    }
    results.sort((a, b) => a.path.localeCompare(b.path));
    const bad = results.filter((r) => !r.ok);
    ctx.out.result({ store: store.displayUrl, ok: bad.length === 0, results }, () => [
      ...results.map((r) =>
        r.ok
          ? `ok        ${r.path} (${formatBytes(r.size ?? 0)})`
          : `MISMATCH  ${r.path}: ${r.problem}${r.expected ? ` (expected ${r.expected}, got ${r.actual})` : ''}`,
      ),
      bad.length === 0 ? `${results.length} image${results.length === 1 ? '' : 's'} verified` : `${bad.length} of ${results.length} failed verification`,
    ]);
    return bad.length > 0 ? ExitCode.failed : ExitCode.ok;
  },
};
