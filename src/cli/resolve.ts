/**
 * What several commands share: finding and checking the manifest, choosing
 * the store (--store > spec.store.url > .ingot/store beside the manifest),
 * and the option tables for both.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ErrorCode, ExitCode, IngotError, UsageError } from '../errors.js';
import { loadManifest } from '../manifest/load.js';
import { renderProblem } from '../manifest/problems.js';
import type { Manifest } from '../manifest/types.js';
import type { StoreBackend } from '../store/backend.js';
import { FsBackend } from '../store/fs-backend.js';
import { ImageStore } from '../store/image-store.js';
import { defaultStoreUrl, openBackend } from '../store/open.js';
import { str, type CommandContext, type OptionSpec, type ParsedArgs } from './command.js';

export const manifestOption = {
  manifest: { type: 'string', short: 'm', valueName: 'FILE', description: 'Manifest file (default: ./images.yaml)' },
} as const satisfies Record<string, OptionSpec>;

export const storeOptions = {
  store: { type: 'string', valueName: 'URL', description: 'Store: a directory, file:///abs/path, s3://bucket[/prefix]?endpoint=…&region=…, or https://host/ (an `ingot serve` URL, read-only) (default: spec.store.url, else .ingot/store beside the manifest)' },
  credentials: { type: 'string', valueName: 'FILE', description: 'SOPS-encrypted (age) credentials file for S3 stores' },
  'sops-age-key-file': { type: 'string', valueName: 'FILE', description: 'age identity for --credentials (default: SOPS_AGE_KEY_FILE or SOPS_AGE_KEY)' },
} as const satisfies Record<string, OptionSpec>;

export function manifestPath(args: ParsedArgs, ctx: CommandContext): string {
  return path.resolve(ctx.cwd, str(args, 'manifest') ?? 'images.yaml');
}

/** Loads and checks the manifest; renders every problem and fails with exit 2 if any is an error. */
export async function requireManifest(args: ParsedArgs, ctx: CommandContext): Promise<Manifest> {
  const file = manifestPath(args, ctx);
  const result = await loadManifest(file);
  for (const problem of result.problems.filter((p) => p.severity === 'warning')) ctx.log.warn(renderProblem(problem, result.text));
  if (!result.manifest) {
    const errors = result.problems.filter((p) => p.severity === 'error');
    throw new IngotError(
      ErrorCode.manifestInvalid,
      `${path.relative(ctx.cwd, file) || file} has ${errors.length} problem${errors.length === 1 ? '' : 's'}:\n${errors.map((p) => renderProblem(p, result.text)).join('\n')}`,
      { path: file, exitCode: ExitCode.usage, hint: 'run `ingot validate` for details; fix them and re-run', details: { problems: errors } },
    );
  }
  return result.manifest;
}

/** Opens the store a command should use. */
export async function resolveStore(
  args: ParsedArgs,
  ctx: CommandContext,
  manifest: Manifest | undefined,
  options: { readOnly?: boolean } = {},
): Promise<ImageStore> {
  const explicit = str(args, 'store');
  const baseDir = manifest?.dir ?? ctx.cwd;
  const url = explicit ?? manifest?.storeUrl ?? defaultStoreUrl(baseDir);
  const credentials = { file: str(args, 'credentials'), ageKeyFile: str(args, 'sops-age-key-file') };
  if (credentials.file && !fs.existsSync(path.resolve(ctx.cwd, credentials.file))) {
    throw new UsageError(`credentials file not found: ${credentials.file}`, { hint: 'check --credentials' });
  }
  const backend = await openBackend(url, {
    baseDir: explicit ? ctx.cwd : baseDir,
    env: ctx.env,
    credentials: {
      ...(credentials.file ? { file: path.resolve(ctx.cwd, credentials.file) } : {}),
      ...(credentials.ageKeyFile ? { ageKeyFile: path.resolve(ctx.cwd, credentials.ageKeyFile) } : {}),
    },
    readOnly: options.readOnly ?? false,
  });
  return new ImageStore(backend);
}

/** For commands that may run without a manifest (list, verify): use it when present. */
export async function optionalManifest(args: ParsedArgs, ctx: CommandContext): Promise<Manifest | undefined> {
  if (str(args, 'store') && !str(args, 'manifest')) return undefined;
  const file = manifestPath(args, ctx);
  if (!str(args, 'manifest') && !fs.existsSync(file)) return undefined;
  return requireManifest(args, ctx);
}

/** Parses a positive integer option. */
export function intOption(args: ParsedArgs, name: string, fallback: number, min = 1): number {
  const raw = str(args, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got "${raw}"`);
  return value;
}

/** Parses "30", "30s", "5m", "2h", "7d" into milliseconds. */
export function parseDuration(raw: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(raw.trim());
  if (!match) throw new UsageError(`${flag} must be a duration like 30s, 5m, 2h or 7d, got "${raw}"`);
  const n = Number(match[1]);
  const unit = match[2] ?? 's';
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit]!;
  return Math.round(n * factor);
}

/**
 * A directory store that does not exist reads as an empty store: for commands
 * that only read one (serve, catalogue, mirror's source) that is a typo, not
 * an empty catalogue, so it is refused.
 */
export async function requireExistingStore(store: ImageStore | StoreBackend): Promise<void> {
  const backend = store instanceof ImageStore ? store.backend : store;
  if (!(backend instanceof FsBackend)) return;
  const isDir = await fs.promises.stat(backend.root).then((s) => s.isDirectory(), () => false);
  if (!isDir) throw new UsageError(`store directory not found: ${backend.root}`, { hint: 'check --store / --from (a directory, file:///abs/path, s3://… or https://…)' });
}
