/** `ingot mirror`: copy a store into another, verifying every image while it streams. */
import { ExitCode, UsageError } from '../../errors.js';
import { ImageStore } from '../../store/image-store.js';
import { openBackend } from '../../store/open.js';
import { formatBytes } from '../../transform/decompress.js';
import type { MirrorOutcome, MirrorResult } from '../../mirror/mirror.js';
import { bool, str, type Command, type CommandContext, type ParsedArgs } from '../command.js';
import { lockOptions, takeLock } from '../lock.js';
import { formatDuration } from '../progress-render.js';
import { connectionsHttp, connectionsOption, intOption, requireExistingStore, storeOptions } from '../resolve.js';
import { renderTable } from '../table.js';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const command: Command = {
  name: 'mirror',
  summary: 'Copy images, metadata, boot manifests, channels and the signed index from one store to another, verified',
  usage: 'mirror --from URL --to URL [--public-key FILE] [--delete] [--dry-run] [--concurrency N] [--json]',
  description: [
    'Typically S3 → a NAS directory, replacing an unverified download-only sync. Each image is hashed',
    'while it streams and committed only if it matches its metadata — and, with --public-key, only if',
    'the signed index lists that very metadata. What is present and identical is skipped; an image cut',
    'off in a directory store resumes where it stopped. Boot manifests and channel files follow the',
    'images, the index comes last, and only when every image made it. --delete removes what the',
    'destination has and the source does not, and only after a run without any failure.',
    'Exit 0 when everything was copied or up to date, 1 when anything failed, 2 for bad usage.',
    '',
    'Example: ingot mirror --from "s3://lab-images?endpoint=https://e2.example.net" --to /volume1/images --public-key ingot.pub',
  ].join('\n'),
  options: {
    from: { type: 'string', valueName: 'URL', description: 'Source store (directory, s3://…, or an https:// `ingot serve` URL)' },
    to: { type: 'string', valueName: 'URL', description: 'Destination store (directory or s3://…)' },
    credentials: storeOptions.credentials,
    ...connectionsOption,
    'sops-age-key-file': storeOptions['sops-age-key-file'],
    'public-key': { type: 'string', valueName: 'FILE', description: 'Trusted minisign public key: copy only what the signed index of the source lists' },
    delete: { type: 'boolean', description: 'Remove objects the source does not have (only after a run without failures)' },
    'dry-run': { type: 'boolean', description: 'Print the plan and change nothing' },
    'allow-rollback': { type: 'boolean', description: "Accept a source index older than the destination's" },
    concurrency: { type: 'string', valueName: 'N', description: 'Images copied at once (default: 2)' },
    ...lockOptions,
  },
  async run(args, ctx) {
    const from = str(args, 'from');
    const to = str(args, 'to');
    if (!from || !to) throw new UsageError('--from URL and --to URL are required');
    const keyArg = str(args, 'public-key');
    const publicKey = keyArg ? await (await import('../../trust/key-files.js')).readPublicKey(keyArg, ctx.cwd) : undefined;
    const dryRun = bool(args, 'dry-run');
    const source = await open(from, args, ctx, true);
    await requireExistingStore(source);
    const dest = new ImageStore(await open(to, args, ctx, dryRun));
    const { mirror } = await import('../../mirror/mirror.js');
    let result: MirrorResult;
    try {
      ctx.log.info(
        `${dryRun ? 'planning a mirror of' : 'mirroring'} ${source.displayUrl} into ${dest.displayUrl}${publicKey ? ' (verifying against the signed index)' : ''}`,
      );
      const lock = dryRun ? undefined : await takeLock(dest, args, ctx, 'mirror');
      try {
        result = await mirror({
          from: source,
          to: dest,
          ...(publicKey ? { publicKey } : {}),
          delete: bool(args, 'delete'),
          dryRun,
          allowRollback: bool(args, 'allow-rollback'),
          concurrency: intOption(args, 'concurrency', 2),
          log: ctx.log,
          progress: ctx.progress,
          signal: ctx.signal,
        });
      } finally {
        await lock?.release();
      }
    } finally {
      await source.close();
      await dest.backend.close();
    }
    const { outcomes } = result;
    ctx.out.result(
      {
        from: source.displayUrl,
        to: dest.displayUrl,
        dryRun,
        failed: result.failed,
        bytes: result.bytes,
        ...(result.indexVersion !== undefined ? { indexVersion: result.indexVersion } : {}),
        objects: outcomes.map(outcomeJson),
      },
      () => [renderTable(['OBJECT', 'KIND', 'ACTION', 'RESULT', 'SIZE', 'TIME', 'REASON'], outcomes.map(outcomeRow)), summaryLine(outcomes, result, dryRun)],
    );
    return result.failed > 0 ? ExitCode.failed : ExitCode.ok;
  },
};

async function open(url: string, args: ParsedArgs, ctx: CommandContext, readOnly: boolean) {
  const credentials = { file: str(args, 'credentials'), ageKeyFile: str(args, 'sops-age-key-file') };
  if (credentials.file && !fs.existsSync(path.resolve(ctx.cwd, credentials.file))) throw new UsageError(`credentials file not found: ${credentials.file}`);
  return openBackend(url, {
    baseDir: ctx.cwd,
    env: ctx.env,
    credentials: {
      ...(credentials.file ? { file: path.resolve(ctx.cwd, credentials.file) } : {}),
      ...(credentials.ageKeyFile ? { ageKeyFile: path.resolve(ctx.cwd, credentials.ageKeyFile) } : {}),
    },
    readOnly,
    log: ctx.log,
    ...connectionsHttp(args),
  });
}

function outcomeRow(o: MirrorOutcome): string[] {
  const result = o.status === 'planned' ? `would ${o.action}` : o.status;
  const size = o.size === undefined ? '-' : formatBytes(o.size) + (o.resumedFrom ? ` (resumed at ${formatBytes(o.resumedFrom)})` : '');
  return [o.key, o.kind, o.action, result, size, formatDuration(o.durationMs / 1000), o.reason];
}

function outcomeJson(o: MirrorOutcome) {
  const { error, ...rest } = o;
  return { ...rest, ...(error ? { error: error.toJSON() } : {}) };
}

function summaryLine(outcomes: MirrorOutcome[], result: MirrorResult, dryRun: boolean): string {
  const count = (s: MirrorOutcome['status']) => outcomes.filter((o) => o.status === s).length;
  if (dryRun) return `dry run: ${count('planned')} to change, ${count('skipped')} up to date, ${count('failed')} would fail; nothing was changed`;
  const held = count('held');
  return `${count('copied')} copied (${formatBytes(result.bytes)}), ${count('skipped')} up to date, ${count('deleted')} deleted, ${count('failed')} failed${held ? `, ${held} held back` : ''}`;
}
