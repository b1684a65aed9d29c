/** `ingot prune`: remove stored images (and metadata) that the manifest no longer declares. */
import { ExitCode, UsageError } from '../../errors.js';
import { prunePlan } from '../../sync/prune.js';
import type { IncompleteUpload } from '../../store/backend.js';
import { formatBytes } from '../../transform/decompress.js';
import { bool, str, type Command, type CommandContext, type ParsedArgs } from '../command.js';
import { lockOptions, takeLock } from '../lock.js';
import { manifestOption, optionalManifest, parseDuration, requireManifest, resolveStore, storeOptions } from '../resolve.js';

export const command: Command = {
  name: 'prune',
  summary: 'Remove stored images that are not in the manifest (only under the image prefix and metadata/)',
  usage: 'prune [-m FILE] [--store URL] [--dry-run] [--json]  |  prune --incomplete [--older-than 24h] [--store URL]',
  options: {
    ...manifestOption,
    ...storeOptions,
    'dry-run': { type: 'boolean', description: 'Only list what would be removed' },
    ...lockOptions,
    shard: { type: 'string', valueName: 'I/N', description: 'Refused: a shard sees only part of the manifest' },
    incomplete: { type: 'boolean', description: 'Instead: abort multipart uploads left behind by killed runs (S3 stores)' },
    'older-than': { type: 'string', valueName: 'DURATION', description: 'With --incomplete: only uploads started this long ago (default: 24h)' },
  },
  async run(args, ctx) {
    if (str(args, 'shard')) {
      throw new UsageError('prune refuses to run with --shard: a shard sees only part of the manifest and would delete the rest', {
        hint: 'run prune once, without --shard, after every shard has synced',
      });
    }
    if (bool(args, 'incomplete')) return pruneIncomplete(args, ctx);
    const manifest = await requireManifest(args, ctx);
    const dryRun = bool(args, 'dry-run');
    const store = await resolveStore(args, ctx, manifest, { readOnly: dryRun });
    const lock = dryRun ? undefined : await takeLock(store, args, ctx, 'prune');
    try {
      const plan = await prunePlan(store, manifest, ctx.signal);
      for (const problem of plan.warnings) ctx.log.warn(problem);
      const removed: string[] = [];
      if (!dryRun) {
        for (const item of plan.remove) {
          await store.removeImage(item.metadataKey, item.imageKey, ctx.signal);
          ctx.log.info(`removed ${item.path}`, { step: 'prune', key: item.imageKey });
          removed.push(item.path);
        }
        for (const key of plan.orphans) {
          await store.backend.delete([key], ctx.signal);
          ctx.log.info(`removed orphan ${key}`, { step: 'prune' });
        }
        for (const key of plan.temporary) await (store.backend as { removeTemporary?: (k: string) => Promise<void> }).removeTemporary?.(key);
      }
      const chosen = store.chosen ? { storeOrigin: store.chosen.origin, storeReason: store.chosen.reason } : {};
      ctx.out.result({ store: store.displayUrl, ...chosen, dryRun, remove: plan.remove, orphans: plan.orphans, temporary: plan.temporary }, () => {
        const verb = dryRun ? 'would remove' : 'removed';
        const lines = [
          ...(dryRun ? [`store: ${store.displayUrl} (${store.chosen?.reason ?? 'given'})`] : []),
          ...plan.remove.map((i) => `${verb} ${i.path} (${i.name ?? '?'}, ${i.size === undefined ? '?' : formatBytes(i.size)})`),
          ...plan.orphans.map((k) => `${verb} orphan ${k} (no metadata)`),
          ...plan.temporary.map((k) => `${verb} leftover temporary file ${k}`),
        ];
        const total = plan.remove.length + plan.orphans.length + plan.temporary.length;
        lines.push(total === 0 ? 'nothing to prune' : `${dryRun ? 'dry run: ' : ''}${total} item${total === 1 ? '' : 's'} ${verb}`);
        return lines;
      });
    } finally {
      await lock?.release();
      await store.backend.close();
    }
    return ExitCode.ok;
  },
};

/** `prune --incomplete`: abort pending multipart uploads older than --older-than. */
async function pruneIncomplete(args: ParsedArgs, ctx: CommandContext): Promise<number> {
  const manifest = await optionalManifest(args, ctx);
  const store = await resolveStore(args, ctx, manifest);
  const olderThanMs = parseDuration(str(args, 'older-than') ?? '24h', '--older-than');
  try {
    const backend = store.backend;
    if (!backend.listIncompleteUploads || !backend.abortIncompleteUploads) {
      ctx.out.result({ store: store.displayUrl, aborted: [] }, () => `${store.displayUrl}: this store has no multipart uploads`);
      return ExitCode.ok;
    }
    const now = Date.now();
    if (bool(args, 'dry-run')) {
      const pending: IncompleteUpload[] = [];
      for await (const upload of backend.listIncompleteUploads(ctx.signal)) {
        if (upload.initiated && now - upload.initiated.getTime() >= olderThanMs) pending.push(upload);
      }
      ctx.out.result({ store: store.displayUrl, dryRun: true, aborted: pending }, () => [
        ...pending.map((u) => `would abort ${u.key} (started ${u.initiated?.toISOString() ?? '?'})`),
        `dry run: ${pending.length} incomplete upload${pending.length === 1 ? '' : 's'}`,
      ]);
      return ExitCode.ok;
    }
    const aborted = await backend.abortIncompleteUploads(olderThanMs, ctx.signal);
    ctx.out.result({ store: store.displayUrl, aborted }, () => [
      ...aborted.map((u) => `aborted ${u.key} (started ${u.initiated?.toISOString() ?? '?'})`),
      `${aborted.length} incomplete upload${aborted.length === 1 ? '' : 's'} aborted`,
    ]);
    return ExitCode.ok;
  } finally {
    await store.backend.close();
  }
}
