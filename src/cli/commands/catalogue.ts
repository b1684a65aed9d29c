/** `ingot catalogue`: the catalogue page and JSON as static files, for a file-only web server. */
import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import type { ImageStore } from '../../store/image-store.js';
import type { PublicKey } from '../../trust/minisign-format.js';
import type { FleetData } from '../../serve/fleet.js';
import { str, type Command, type CommandContext } from '../command.js';
import { fleetOption } from './serve.js';
import { requireExistingStore, resolveStore, storeOptions } from '../resolve.js';

export const command: Command = {
  name: 'catalogue',
  summary: 'Write the catalogue page (index.html) and its JSON (catalogue.json) as static files',
  usage: 'catalogue --store URL --out DIR|s3://… [--public-key FILE] [--object-base URL] [--prometheus URL [--fleet-window 1h]]',
  description: [
    'The same page `ingot serve` shows, for an S3 static website or a NAS share: families, versions,',
    'channels, boot sets, checksums and the signature verdict (checked with --public-key). Object links',
    'are relative to --object-base (default: none, for a page written into the store root). --out is a',
    'directory, or a store URL the files are put into (e.g. the bucket behind a static website).',
    'With --prometheus, the fleet section (hosts per version, boot success by version) as of now.',
  ].join('\n'),
  options: {
    ...storeOptions,
    out: { type: 'string', valueName: 'DIR', description: 'Where to write index.html and catalogue.json (a directory or a store URL)' },
    'public-key': { type: 'string', valueName: 'FILE', description: 'Trusted minisign public key: verify signatures and show the verdict' },
    'object-base': { type: 'string', valueName: 'URL', description: 'Prefix of links to objects (default: relative to the page)' },
    prometheus: { type: 'string', valueName: 'URL', description: 'Prometheus server: add the fleet section' },
    'fleet-window': { type: 'string', valueName: 'DURATION', description: 'With --prometheus: how far back boots count (default: 1h)' },
  },
  async run(args, ctx) {
    const out = str(args, 'out');
    if (!out) throw new UsageError('--out DIR is required');
    if (!str(args, 'store')) throw new UsageError('--store URL is required');
    const keyArg = str(args, 'public-key');
    const publicKey = keyArg ? await (await import('../../trust/key-files.js')).readPublicKey(keyArg, ctx.cwd) : undefined;
    const fleetFrom = await fleetOption(args, ctx);
    const store = await resolveStore(args, ctx, undefined, { readOnly: true });
    await requireExistingStore(store);
    try {
      const fleet = await fleetFrom?.(ctx.signal);
      if (fleet?.error) ctx.log.warn(`fleet section: ${fleet.error}`);
      const result = await writeCatalogueFiles(store, out, publicKey, ctx, str(args, 'object-base'), fleet);
      ctx.out.result(result, () => [
        `wrote ${result.files.join(', ')} to ${result.out}`,
        `${result.images} images in ${result.families} families; index ${result.index}`,
      ]);
    } finally {
      await store.backend.close();
    }
  },
};

/** Builds and writes the static catalogue of `store` into `out` (shared with `sync --catalogue`). */
export async function writeCatalogueFiles(
  store: ImageStore,
  out: string,
  publicKey: PublicKey | undefined,
  ctx: CommandContext,
  objectBase?: string,
  fleet?: FleetData,
) {
  const { directoryWriter, storeWriter, writeStaticCatalogue } = await import('../../serve/static.js');
  const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(out) && !out.startsWith('file://');
  let target = isUrl ? undefined : out.startsWith('file://') ? new URL(out).pathname : path.resolve(ctx.cwd, out);
  const backend = isUrl ? await (await import('../../store/open.js')).openBackend(out, { baseDir: ctx.cwd, env: ctx.env }) : undefined;
  try {
    const { files, catalogue } = await writeStaticCatalogue(store.backend, backend ? storeWriter(backend) : directoryWriter(target!), {
      ...(publicKey ? { publicKey } : {}),
      ...(objectBase !== undefined ? { objectBase } : {}),
      ...(fleet ? { fleet } : {}),
      signal: ctx.signal,
    });
    target ??= backend!.displayUrl;
    ctx.log.info(`catalogue written to ${target}`, { files: files.join(',') });
    const sig = catalogue.index.signature.status;
    return {
      out: target,
      files,
      images: catalogue.totals.images,
      families: catalogue.totals.families,
      index: catalogue.index.present ? `version ${catalogue.index.version ?? '?'}, ${sig}` : 'absent',
    };
  } finally {
    await backend?.close();
  }
}
