/** `ingot list`: what is in a store (from its metadata). */
import type { ImageMetadata } from '../../store/metadata.js';
import { formatBytes } from '../../transform/decompress.js';
import { str, type Command } from '../command.js';
import { manifestOption, optionalManifest, resolveStore, storeOptions } from '../resolve.js';
import { renderTable } from '../table.js';

export const command: Command = {
  name: 'list',
  summary: 'List what is in a store, with size, checksum and upload time',
  usage: 'list [--store URL | -m FILE] [--prefix P] [--json]',
  options: {
    ...manifestOption,
    ...storeOptions,
    prefix: { type: 'string', valueName: 'P', description: 'Only destination paths starting with P' },
  },
  async run(args, ctx) {
    const manifest = await optionalManifest(args, ctx);
    const store = await resolveStore(args, ctx, manifest);
    const prefix = str(args, 'prefix') ?? '';
    const entries: ImageMetadata[] = [];
    const invalid: { key: string; problem: string }[] = [];
    try {
      for await (const { key, read } of store.listMetadata(ctx.signal)) {
        if (read.status === 'present') {
          if (read.metadata.path.startsWith(prefix)) entries.push(read.metadata);
        } else if (read.status === 'invalid' && key.startsWith(`metadata/${prefix}`)) {
          invalid.push({ key, problem: read.problem });
        }
      }
    } finally {
      await store.backend.close();
    }
    for (const bad of invalid) ctx.log.warn(`unreadable metadata ${bad.key}: ${bad.problem}`);
    ctx.out.result({ store: store.displayUrl, images: entries, invalid }, () =>
      entries.length === 0
        ? `no images in ${store.displayUrl}${prefix ? ` under "${prefix}"` : ''}`
        : renderTable(
            ['PATH', 'NAME', 'SIZE', 'CHECKSUM', 'UPLOADED'],
            entries.map((m) => [m.path, m.name, formatBytes(m.size), `${m.checksum.slice(0, 19)}…`, m.uploadedAt]),
          ),
    );
  },
};
