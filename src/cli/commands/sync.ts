/** `ingot sync`: acquire, verify and publish every image in the manifest; idempotent. */
import { ExitCode, UsageError } from '../../errors.js';
import type { Image, Manifest } from '../../manifest/types.js';
import { suggest } from '../../manifest/problems.js';
import { formatBytes, parseSize, type DecompressorPreference } from '../../transform/decompress.js';
import { runSync, type ImageOutcome } from '../../sync/sync.js';
import type { BootSetOutcome } from '../../sync/boot-sets.js';
import { parseShard, selectShard } from '../../sync/shard.js';
import type { ImageStore } from '../../store/image-store.js';
import { bool, list, str, type Command, type CommandContext, type ParsedArgs } from '../command.js';
import { lockOptions, takeLock } from '../lock.js';
import { formatDuration } from '../progress-render.js';
import { intOption, manifestOption, parseDuration, requireManifest, resolveStore, storeOptions } from '../resolve.js';
import { renderTable } from '../table.js';

export const command: Command = {
  name: 'sync',
  summary: 'Acquire, verify and publish every image in the manifest (skips what is already published)',
  usage: 'sync [-m FILE] [--store URL] [--dry-run] [--force] [--concurrency N] [--only NAME…] [--shard I/N] [--json]',
  description: [
    'Per image: read its metadata; checksum equal to the expected one → skip; missing or different → acquire and publish.',
    'Exit 0 when every image is skipped or published, 1 when any failed, 2 for an invalid manifest or usage.',
  ].join('\n'),
  options: {
    ...manifestOption,
    ...storeOptions,
    'dry-run': { type: 'boolean', description: 'Print the plan (skip / publish / republish, with reasons) and change nothing' },
    force: { type: 'boolean', description: 'Republish even when the stored checksum matches' },
    concurrency: { type: 'string', valueName: 'N', description: 'Images acquired at once (default: 2)' },
    only: { type: 'string', multiple: true, valueName: 'NAME', description: 'Only these images' },
    shard: { type: 'string', valueName: 'I/N', description: 'Only shard I of N (1-based), picked by a hash of image names: for CI matrices' },
    ...lockOptions,
    retries: { type: 'string', valueName: 'N', description: 'Download retries after a failure without progress (default: 5)' },
    'connect-timeout': { type: 'string', valueName: 'DURATION', description: 'Connect timeout (default: 30s)' },
    'idle-timeout': { type: 'string', valueName: 'DURATION', description: 'Longest silence from a server (default: 60s)' },
    'max-decompressed-size': { type: 'string', valueName: 'SIZE', description: 'Cap on every decompressed image, e.g. 64GiB (overrides the manifest)' },
    decompressor: { type: 'string', valueName: 'auto|native|builtin', description: 'auto: fastest available (default); native: xz/zstd binaries only; builtin: no external programs' },
    'signing-key': { type: 'string', valueName: 'FILE', description: 'Sign index.json after the sync (default: INGOT_SIGNING_KEY, else spec.signing.key)' },
    'password-file': { type: 'string', valueName: 'FILE', description: 'Password of the signing key (default: INGOT_SIGNING_PASSWORD)' },
    'index-expires': { type: 'string', valueName: 'DURATION', description: 'Validity of the signed index (default: spec.signing.expires, else 7d)' },
    catalogue: { type: 'string', valueName: 'DIR', description: 'After the run, write the static catalogue (index.html, catalogue.json) into DIR (see `ingot catalogue`)' },
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
    const maxSizeRaw = str(args, 'max-decompressed-size');
    if (maxSizeRaw !== undefined) {
      const max = parseSize(maxSizeRaw);
      if (max === undefined) throw new UsageError(`--max-decompressed-size must be a size like 64GiB, got "${maxSizeRaw}"`);
      for (const image of images) image.maxDecompressedSize = max;
    }
    const dryRun = bool(args, 'dry-run');
    // Load the signing key first: a wrong path or password fails before any work.
    const signing = dryRun ? undefined : await signingFor(args, ctx, manifest);
    const store = await resolveStore(args, ctx, manifest, { readOnly: dryRun });
    ctx.log.info(`${dryRun ? 'planning' : 'syncing'} ${images.length} image${images.length === 1 ? '' : 's'} into ${store.displayUrl}`);
    const lock = dryRun ? undefined : await takeLock(store, args, ctx, 'sync');
    if (!dryRun) await warnIncompleteUploads(store, ctx);
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
        http: {
          retries: intOption(args, 'retries', 5, 0),
          ...(str(args, 'connect-timeout') ? { connectTimeoutMs: parseDuration(str(args, 'connect-timeout')!, '--connect-timeout') } : {}),
          ...(str(args, 'idle-timeout') ? { idleTimeoutMs: parseDuration(str(args, 'idle-timeout')!, '--idle-timeout') } : {}),
        },
        log: ctx.log,
        progress: ctx.progress,
        signal: ctx.signal,
        env: ctx.env,
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
        dryRun,
        failed,
        images: outcomes.map(outcomeJson),
        ...(bootSets.length ? { bootSets: bootSets.map(({ error, ...b }) => ({ ...b, ...(error ? { error: error.toJSON() } : {}) })) } : {}),
        ...(index ? { index } : {}),
      },
      () => [
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
      ctx.log.warn(`${stale} incomplete multipart upload${stale === 1 ? '' : 's'} older than 24 h in the store (left by killed runs); remove them with \`ingot prune --incomplete\``);
    }
  } catch (error) {
    ctx.log.debug(`cannot list incomplete uploads: ${(error as Error).message}`);
  }
}

/** The signing key and index expiry for this sync, if signing is configured. */
async function signingFor(args: ParsedArgs, ctx: CommandContext, manifest: Manifest) {
  const { loadSigningKey } = await import('../../trust/key-files.js');
  const keyFile = str(args, 'signing-key') ?? (ctx.env.INGOT_SIGNING_KEY ? undefined : manifest.signing?.keyFile);
  const key = await loadSigningKey({
    ...(keyFile ? { keyFile } : {}),
    ...(str(args, 'password-file') ? { passwordFile: str(args, 'password-file')! } : {}),
    env: ctx.env,
    baseDir: ctx.cwd,
    onSecret: ctx.addSecret,
  });
  if (!key) return undefined;
  const expires = str(args, 'index-expires') ?? manifest.signing?.expires;
  return { key, expiresInMs: expires ? parseDuration(expires, expires === str(args, 'index-expires') ? '--index-expires' : 'spec.signing.expires') : undefined };
}

/** --only filtering, with a "did you mean" for unknown names. */
export function selectImages(images: Image[], args: ParsedArgs): Image[] {
  const only = list(args, 'only').flatMap((v) => v.split(',')).filter(Boolean);
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
  const result = o.status === 'planned' ? 'would ' + (o.action === 'skip' ? 'skip' : o.action) : o.status;
  return [o.name, o.action, result, o.size === undefined ? '-' : formatBytes(o.size), formatDuration(o.durationMs / 1000), o.reason];
}

function outcomeJson(o: ImageOutcome) {
  return {
    name: o.name,
    path: o.path,
    action: o.action,
    status: o.status,
    reason: o.reason,
    ...(o.size !== undefined ? { size: o.size } : {}),
    ...(o.checksum ? { checksum: o.checksum } : {}),
    durationMs: o.durationMs,
    ...(o.error ? { error: o.error.toJSON() } : {}),
  };
}

function summaryLine(outcomes: ImageOutcome[], dryRun: boolean): string {
  const count = (s: string) => outcomes.filter((o) => o.status === s).length;
  if (dryRun) {
    const changes = outcomes.filter((o) => o.action !== 'skip').length;
    return `dry run: ${changes} to publish, ${outcomes.length - changes} up to date; nothing was changed`;
  }
  return `${count('published')} published, ${count('skipped')} up to date, ${count('failed')} failed`;
}
