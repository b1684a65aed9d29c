/** `ingot sync`: acquire, verify and publish every image in the manifest; idempotent. */
import { ExitCode, UsageError } from '../../errors.js';
import type { Image, Manifest } from '../../manifest/types.js';
import { suggest } from '../../manifest/problems.js';
import { formatBytes, type DecompressorPreference } from '../../transform/decompress.js';
import { runSync, type ImageOutcome } from '../../sync/sync.js';
import type { BootSetOutcome } from '../../sync/boot-sets.js';
import { parseShard, selectShard } from '../../sync/shard.js';
import type { ImageStore } from '../../store/image-store.js';
import { bool, list, str, type Command, type CommandContext, type ParsedArgs } from '../command.js';
import { downloadOptions, httpOptionsFrom } from '../download-options.js';
import { lockOptions, takeLock } from '../lock.js';
import { formatDuration } from '../progress-render.js';
import { indexExpiryFlag, sizeFlag } from '../values.js';
import { intOption, manifestOption, requireManifest, signingKeyFrom, resolveStore, storeOptions } from '../resolve.js';
import { renderTable } from '../table.js';

export const command: Command = {
  name: 'sync',
  summary: 'Acquire, verify and publish every image in the manifest (skips what is already published)',
  usage: 'sync [-m FILE] [--store URL] [--dry-run] [--force] [--concurrency N] [--only NAME…] [--shard I/N] [--json]',
  description: [
    'Per image: read its metadata; checksum equal to the expected one → skip; missing or different → acquire and publish;',
    'bytes current but family, version, compatibility or name changed → update (rewrite the metadata only, no download).',
    'The store: --store, else spec.store.url, else the bucket and endpoint in the S3 credentials (E2_BUCKET/E2_ENDPOINT,',
    'INGOT_S3_BUCKET/INGOT_S3_ENDPOINT, or bucket:/endpoint: in --credentials), else .ingot/store beside the manifest.',
    'Exit 0 when every image is skipped or published, 1 when any failed, 2 for an invalid manifest or usage.',
  ].join('\n'),
  options: {
    ...manifestOption,
    ...storeOptions,
    'dry-run': {
      type: 'boolean',
      description: 'Print the store (and why) and the plan (skip / update / publish / republish, with reasons and changed fields); change nothing',
    },
    force: { type: 'boolean', description: 'Republish even when the stored checksum matches' },
    concurrency: { type: 'string', valueName: 'N', description: 'Images acquired at once (default: 2)' },
    only: { type: 'string', multiple: true, valueName: 'NAME', description: 'Only these images' },
    shard: { type: 'string', valueName: 'I/N', description: 'Only shard I of N (1-based), picked by a hash of image names: for CI matrices' },
    ...lockOptions,
    ...downloadOptions,
    'max-decompressed-size': { type: 'string', valueName: 'SIZE', description: 'Cap on every decompressed image, e.g. 64GiB (overrides the manifest)' },
    decompressor: {
      type: 'string',
      valueName: 'auto|native|builtin',
      description: 'auto: fastest available (default); native: xz/zstd binaries only; builtin: no external programs',
    },
    'signing-key': { type: 'string', valueName: 'FILE', description: 'Sign index.json after the sync (default: INGOT_SIGNING_KEY, else spec.signing.key)' },
    'password-file': { type: 'string', valueName: 'FILE', description: 'Password of the signing key (default: INGOT_SIGNING_PASSWORD)' },
    'index-expires': { type: 'string', valueName: 'DURATION', description: 'Validity of the signed index (default: spec.signing.expires, else 7d)' },
    catalogue: {
      type: 'string',
      valueName: 'DIR',
      description: 'After the run, write the static catalogue (index.html, catalogue.json) into DIR (see `ingot catalogue`)',
    },
  },
  async run(args, ctx) {
    const manifest = await requireManifest(args, ctx);
    let images = selectImages(manifest.images, args);
    const shardText = str(args, 'shard');
    if (shardText) {
      const shard = parseShard(shardText);
      images = selectShard(images, shard.index, shard.count);
      ctx.log.info(`shard ${shard.index}/${shard.count}: ${images.length} of ${manifest.images.length} images`);
    }
    const preference = (str(args, 'decompressor') ?? 'auto') as DecompressorPreference;
    if (!['auto', 'native', 'builtin'].includes(preference)) throw new UsageError(`--decompressor must be auto, native or builtin, got "${preference}"`);
    const max = sizeFlag(str(args, 'max-decompressed-size'), '--max-decompressed-size');
    if (max !== undefined) for (const image of images) image.maxDecompressedSize = max;
    // Checked before any work, dry run included: a bad validity must not surface after publishing.
    const indexExpiresMs = indexExpiryFlag(str(args, 'index-expires'), '--index-expires');
    // Download flags are checked before anything starts (a bad value is exit 2).
    const http = httpOptionsFrom(args);
    const dryRun = bool(args, 'dry-run');
    // Load the signing key first: a wrong path or password fails before any work.
    const signing = dryRun ? undefined : await signingFor(args, ctx, manifest, indexExpiresMs);
    const store = await resolveStore(args, ctx, manifest, { readOnly: dryRun });
    ctx.log.info(`${dryRun ? 'planning' : 'syncing'} ${images.length} image${images.length === 1 ? '' : 's'} into ${store.displayUrl}`);
    const storeLine = `store: ${store.displayUrl} (${store.chosen?.reason ?? 'given'})`;
    const lock = dryRun ? undefined : await takeLock(store, args, ctx, 'sync');
    if (!dryRun) await warnIncompleteUploads(store, ctx);
    if (!dryRun) await sweepTemporaries(store, ctx);
    let result;
    let index: { version: number; changed: boolean } | undefined;
    let bootSets: BootSetOutcome[] = [];
    try {
      result = await runSync({
        manifest,
        store,
        images,
        dryRun,
        force: bool(args, 'force'),
        concurrency: intOption(args, 'concurrency', 2),
        decompressor: preference,
        http,
        log: ctx.log,
        progress: ctx.progress,
        signal: ctx.signal,
        env: ctx.env,
        ...(signing ? { publicKey: signing.key.publicKey } : {}),
      });
      // Interrupted: do not go on to publish boot manifests or sign a half-done run.
      ctx.signal.throwIfAborted();
      if (!dryRun && manifest.bootSets.length > 0) {
        const { publishBootSets } = await import('../../sync/boot-sets.js');
        bootSets = await publishBootSets(manifest, store, { ...(signing ? { signingKey: signing.key } : {}), log: ctx.log, signal: ctx.signal });
      }
      if (signing) {
        const { signStoreIndex } = await import('../../trust/sign-store.js');
        const signed = await signStoreIndex(store, signing.key, { expiresInMs: signing.expiresInMs, log: ctx.log, signal: ctx.signal });
        ctx.log.info(signed.changed ? `signed index.json version ${signed.version}` : `index.json version ${signed.version} is current`, { step: 'sign' });
        index = signed;
      }
      const catalogueOut = str(args, 'catalogue');
      if (!dryRun && catalogueOut) await (await import('./catalogue.js')).writeCatalogueFiles(store, catalogueOut, signing?.key.publicKey, ctx);
    } finally {
      await lock?.release();
      await store.backend.close();
    }
    const { outcomes } = result;
    const failed = result.failed + bootSets.filter((b) => b.status === 'failed').length;
    ctx.out.result(
      {
        store: store.displayUrl,
        ...(store.chosen ? { storeOrigin: store.chosen.origin, storeReason: store.chosen.reason } : {}),
        dryRun,
        failed,
        images: outcomes.map(outcomeJson),
        ...(bootSets.length ? { bootSets: bootSets.map(({ error, ...b }) => ({ ...b, ...(error ? { error: error.toJSON() } : {}) })) } : {}),
        ...(index ? { index } : {}),
      },
      () => [
        ...(dryRun ? [storeLine] : []),
        renderTable(['IMAGE', 'ACTION', 'RESULT', 'SIZE', 'TIME', 'REASON'], outcomes.map(outcomeRow)),
        ...bootSets.map((b) => `boot set ${b.name}: ${b.status} (${b.reason}) → ${b.key}`),
        summaryLine(outcomes, dryRun),
      ],
    );
    return failed > 0 ? ExitCode.failed : ExitCode.ok;
  },
};

/** Multipart uploads older than this are reported: a killed run left them behind. */
const STALE_UPLOAD_MS = 24 * 3_600_000;

/** Warns about old pending multipart uploads (invisible, but billed) and says how to clear them. */
async function warnIncompleteUploads(store: ImageStore, ctx: CommandContext): Promise<void> {
  if (!store.backend.listIncompleteUploads) return;
  try {
    let stale = 0;
    for await (const upload of store.backend.listIncompleteUploads(ctx.signal)) {
      if (upload.initiated && Date.now() - upload.initiated.getTime() > STALE_UPLOAD_MS) stale++;
    }
    if (stale > 0) {
      ctx.log.warn(
        `${stale} incomplete multipart upload${stale === 1 ? '' : 's'} older than 24 h in the store (left by killed runs); remove them with \`ingot prune --incomplete\``,
      );
    }
  } catch (error) {
    ctx.log.debug(`cannot list incomplete uploads: ${(error as Error).message}`);
  }
}

/** Removes the temporary files killed runs left in a directory store (never a live run's); a failure only warns. */
async function sweepTemporaries(store: ImageStore, ctx: CommandContext): Promise<void> {
  const backend = store.backend as { sweepTemporary?: () => Promise<{ key: string; size: number }[]> };
  if (!backend.sweepTemporary) return;
  try {
    const removed = await backend.sweepTemporary();
    if (removed.length > 0) {
      const bytes = removed.reduce((sum, r) => sum + r.size, 0);
      ctx.log.info(`removed ${removed.length} temporary file${removed.length === 1 ? '' : 's'} (${formatBytes(bytes)}) left by interrupted runs`, {
        step: 'cleanup',
      });
    }
  } catch (error) {
    ctx.log.warn(`cannot remove temporary files left by interrupted runs: ${(error as Error).message}`);
  }
}

/** The signing key and index expiry for this sync, if signing is configured. */
async function signingFor(args: ParsedArgs, ctx: CommandContext, manifest: Manifest, indexExpiresMs: number | undefined) {
  const keyFile = str(args, 'signing-key') ?? (ctx.env.INGOT_SIGNING_KEY ? undefined : manifest.signing?.keyFile);
  const key = await signingKeyFrom(args, ctx, keyFile);
  if (!key) return undefined;
  // spec.signing.expires was checked with the manifest (file:line:col); the flag before any work.
  return { key, expiresInMs: indexExpiresMs ?? indexExpiryFlag(manifest.signing?.expires, 'spec.signing.expires') };
}

/** --only filtering, with a "did you mean" for unknown names. */
export function selectImages(images: Image[], args: ParsedArgs): Image[] {
  const only = list(args, 'only')
    .flatMap((v) => v.split(','))
    .filter(Boolean);
  if (only.length === 0) return images;
  const names = images.map((i) => i.name);
  for (const name of only) {
    if (!names.includes(name)) {
      const guess = suggest(name, names);
      throw new UsageError(`--only: no image named "${name}"${guess ? `; did you mean "${guess}"?` : ''}`, {
        hint: `images in the manifest: ${names.join(', ')}`,
      });
    }
  }
  return images.filter((i) => only.includes(i.name));
}

function outcomeRow(o: ImageOutcome): string[] {
  const result = o.status === 'planned' ? `would ${o.action === 'skip' ? 'skip' : o.action}` : o.status;
  return [o.name, o.action, result, o.size === undefined ? '-' : formatBytes(o.size), formatDuration(o.durationMs / 1000), o.reason];
}

function outcomeJson(o: ImageOutcome) {
  return {
    name: o.name,
    path: o.path,
    action: o.action,
    status: o.status,
    reason: o.reason,
    ...(o.changes ? { changes: o.changes } : {}),
    ...(o.size !== undefined ? { size: o.size } : {}),
    ...(o.checksum ? { checksum: o.checksum } : {}),
    durationMs: o.durationMs,
    ...(o.error ? { error: o.error.toJSON() } : {}),
  };
}

function summaryLine(outcomes: ImageOutcome[], dryRun: boolean): string {
  const count = (s: string) => outcomes.filter((o) => o.status === s).length;
  if (dryRun) {
    const updates = outcomes.filter((o) => o.action === 'update').length;
    const publishes = outcomes.filter((o) => o.action !== 'skip' && o.action !== 'update').length;
    return `dry run: ${publishes} to publish, ${updates ? `${updates} to update (metadata only), ` : ''}${outcomes.length - publishes - updates} up to date; nothing was changed`;
  }
  const updated = count('updated');
  return `${count('published')} published, ${updated ? `${updated} updated (metadata only), ` : ''}${count('skipped')} up to date, ${count('failed')} failed`;
}
