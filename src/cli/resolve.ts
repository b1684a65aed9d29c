/**
 * What several commands share: finding and checking the manifest
 * (./images.yaml, then ./images/images.yaml), choosing the store (--store >
 * spec.store.url > a bucket in the S3 credentials > .ingot/store beside the
 * manifest; see store/choose.ts), and the option tables for both.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_CONNECTIONS, MAX_CONNECTIONS, ONE_STREAM_RATE, PROBE_BYTES } from '../acquire/http-client.js';
import { ErrorCode, ExitCode, IngotError, UsageError } from '../errors.js';
import { loadManifest } from '../manifest/load.js';
import { findManifest, MANIFEST_LOCATIONS } from '../manifest/locate.js';
import { renderProblems, REPORT_LIMIT } from '../manifest/problems.js';
import type { Manifest } from '../manifest/types.js';
import type { SecretKey } from '../trust/keys.js';
import type { StoreBackend } from '../store/backend.js';
import { FsBackend } from '../store/fs-backend.js';
import { ImageStore } from '../store/image-store.js';
import { chooseStore, displayPath, type StoreChoice } from '../store/choose.js';
import { openBackend, redactUrl } from '../store/open.js';
import { bool, str, type CommandContext, type OptionSpec, type ParsedArgs } from './command.js';
import { parseDurationMs } from '../util/bounds.js';

/** Problems shown in the error of a command that needs a valid manifest (validate shows more). */
const ERROR_REPORT_LIMIT = 20;

export const manifestOption = {
  manifest: { type: 'string', short: 'm', valueName: 'FILE', description: 'Manifest file (default: ./images.yaml, else ./images/images.yaml)' },
} as const satisfies Record<string, OptionSpec>;

export const storeOptions = {
  store: {
    type: 'string',
    valueName: 'URL',
    description:
      'Store: a directory, file:///abs/path, s3://bucket[/prefix]?endpoint=…&region=…, or https://host/ (an `ingot serve` URL, read-only) (default: spec.store.url, else the bucket and endpoint in the S3 credentials, else .ingot/store beside the manifest)',
  },
  credentials: {
    type: 'string',
    valueName: 'FILE',
    description: 'SOPS-encrypted (age) credentials file for S3 stores; its bucket/endpoint choose the store when nothing else does',
  },
  'sops-age-key-file': { type: 'string', valueName: 'FILE', description: 'age identity for --credentials (default: SOPS_AGE_KEY_FILE or SOPS_AGE_KEY)' },
  'allow-insecure-endpoint': {
    type: 'boolean',
    description: 'Allow a plain http:// S3 endpoint on a non-loopback host (credentials travel unencrypted; also INGOT_ALLOW_INSECURE_ENDPOINT=1)',
  },
} as const satisfies Record<string, OptionSpec>;

/** -m, else the first of ./images.yaml and ./images/images.yaml that exists, else ./images.yaml. */
export function manifestPath(args: ParsedArgs, ctx: CommandContext): string {
  const given = str(args, 'manifest');
  if (given !== undefined) return path.resolve(ctx.cwd, given);
  return findManifest(ctx.cwd) ?? path.resolve(ctx.cwd, MANIFEST_LOCATIONS[0]);
}

/** The manifest file to read: like manifestPath, but without -m it must exist at one of the looked-for places (exit 2 naming them). */
export function existingManifestPath(args: ParsedArgs, ctx: CommandContext): string {
  const file = manifestPath(args, ctx);
  if (str(args, 'manifest') === undefined && !fs.existsSync(file)) {
    throw new IngotError(ErrorCode.manifestNotFound, `no manifest: looked for ${MANIFEST_LOCATIONS.map((l) => `./${l}`).join(' and ')} in ${ctx.cwd}`, {
      path: file,
      exitCode: ExitCode.usage,
      hint: 'pass -m FILE, or create one with `ingot init`',
    });
  }
  return file;
}

/** Loads and checks the manifest; renders every problem and fails with exit 2 if any is an error. */
export async function requireManifest(args: ParsedArgs, ctx: CommandContext): Promise<Manifest> {
  const file = existingManifestPath(args, ctx);
  const result = await loadManifest(file);
  for (const line of renderProblems(
    result.problems.filter((p) => p.severity === 'warning'),
    result.text,
  ))
    ctx.log.warn(line);
  if (!result.manifest) {
    const errors = result.problems.filter((p) => p.severity === 'error');
    throw new IngotError(
      ErrorCode.manifestInvalid,
      `${path.relative(ctx.cwd, file) || file} has ${errors.length} problem${errors.length === 1 ? '' : 's'}:\n${renderProblems(errors, result.text, ERROR_REPORT_LIMIT).join('\n')}`,
      {
        path: file,
        exitCode: ExitCode.usage,
        hint: 'run `ingot validate` for details; fix them and re-run',
        details: { problems: errors.slice(0, REPORT_LIMIT), ...(errors.length > REPORT_LIMIT ? { more: errors.length - REPORT_LIMIT } : {}) },
      },
    );
  }
  return result.manifest;
}

/** Decides which store a command would use, and why, without opening it. */
export async function chooseCommandStore(args: ParsedArgs, ctx: CommandContext, manifest: Manifest | undefined): Promise<StoreChoice> {
  const file = str(args, 'credentials');
  const ageKeyFile = str(args, 'sops-age-key-file');
  if (file && !fs.existsSync(path.resolve(ctx.cwd, file))) {
    throw new UsageError(`credentials file not found: ${file}`, { hint: 'check --credentials' });
  }
  const flag = str(args, 'store');
  return chooseStore({
    ...(flag !== undefined ? { flag } : {}),
    ...(manifest ? { manifest } : {}),
    cwd: ctx.cwd,
    env: ctx.env,
    ...(file ? { credentialsFile: path.resolve(ctx.cwd, file) } : {}),
    ...(ageKeyFile ? { ageKeyFile: path.resolve(ctx.cwd, ageKeyFile) } : {}),
    signal: ctx.signal,
    onSecret: ctx.addSecret,
    display: displayPath(ctx.cwd),
  });
}

/** `--connections N`: parallel ranged requests per large download (sync, pull, mirror). */
export const connectionsOption = {
  connections: {
    type: 'string',
    valueName: 'N',
    description: `Connections for one large download, each fetching ranges of it from the first byte (1 = one stream; at most ${MAX_CONNECTIONS}). Default: one stream, split over up to ${DEFAULT_CONNECTIONS} when its first ${PROBE_BYTES / 2 ** 20} MiB came slower than ${ONE_STREAM_RATE / 2 ** 20} MiB/s`,
  },
} as const satisfies Record<string, OptionSpec>;

/** The --connections value when given (a whole number from 1 to MAX_CONNECTIONS). */
export function connectionsFrom(args: ParsedArgs): number | undefined {
  if (str(args, 'connections') === undefined) return undefined;
  const n = intOption(args, 'connections', DEFAULT_CONNECTIONS, 1);
  if (n > MAX_CONNECTIONS) {
    throw new UsageError(`--connections must be at most ${MAX_CONNECTIONS}, got ${n}`, {
      hint: 'more connections to one server add load on it and rarely speed up; 4 to 8 is plenty on a slow link',
    });
  }
  return n;
}

/** `http` for an OpenStoreContext when --connections was given. */
export function connectionsHttp(args: ParsedArgs): { http?: { connections: number } } {
  const connections = connectionsFrom(args);
  return connections === undefined ? {} : { http: { connections } };
}

/** Opens the store a command should use; logs which one and why. */
export async function resolveStore(
  args: ParsedArgs,
  ctx: CommandContext,
  manifest: Manifest | undefined,
  options: { readOnly?: boolean } = {},
): Promise<ImageStore> {
  const choice = await chooseCommandStore(args, ctx, manifest);
  for (const warning of choice.warnings) ctx.log.warn(warning);
  const file = str(args, 'credentials');
  const ageKeyFile = str(args, 'sops-age-key-file');
  const backend = await openBackend(choice.url, {
    baseDir: choice.baseDir,
    env: ctx.env,
    credentials: {
      ...(file ? { file: path.resolve(ctx.cwd, file) } : {}),
      ...(ageKeyFile ? { ageKeyFile: path.resolve(ctx.cwd, ageKeyFile) } : {}),
    },
    ...(choice.credentials ? { resolvedCredentials: choice.credentials } : {}),
    readOnly: options.readOnly ?? false,
    onSecret: ctx.addSecret,
    allowInsecureEndpoint: bool(args, 'allow-insecure-endpoint') || ctx.env.INGOT_ALLOW_INSECURE_ENDPOINT === '1',
    log: ctx.log,
    ...connectionsHttp(args),
  });
  ctx.log.info(`store: ${redactUrl(backend.displayUrl)} (${choice.reason})`, { step: 'store', origin: choice.origin });
  return new ImageStore(backend, { origin: choice.origin, reason: choice.reason });
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
  const ms = parseDurationMs(raw);
  if (ms === undefined) throw new UsageError(`${flag} must be a duration like 30s, 5m, 2h or 7d, got "${raw}"`);
  return ms;
}

/**
 * A directory store that does not exist reads as an empty store: for commands
 * that only read one (serve, catalogue, mirror's source) that is a typo, not
 * an empty catalogue, so it is refused.
 */
export async function requireExistingStore(store: ImageStore | StoreBackend): Promise<void> {
  const backend = store instanceof ImageStore ? store.backend : store;
  if (!(backend instanceof FsBackend)) return;
  const isDir = await fs.promises.stat(backend.root).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir)
    throw new UsageError(`store directory not found: ${backend.root}`, { hint: 'check --store / --from (a directory, file:///abs/path, s3://… or https://…)' });
}

/**
 * The signing key named by --signing-key / --password-file or INGOT_SIGNING_KEY
 * (its password registered with the output scrubber), or undefined.
 */
export async function signingKeyFrom(args: ParsedArgs, ctx: CommandContext, keyFile = str(args, 'signing-key')): Promise<SecretKey | undefined> {
  const { loadSigningKey } = await import('../trust/key-files.js');
  const passwordFile = str(args, 'password-file');
  return loadSigningKey({
    ...(keyFile ? { keyFile } : {}),
    ...(passwordFile ? { passwordFile } : {}),
    env: ctx.env,
    baseDir: ctx.cwd,
    onSecret: ctx.addSecret,
  });
}

/** As signingKeyFrom, for commands that cannot work without one. */
export async function requireSigningKey(args: ParsedArgs, ctx: CommandContext): Promise<SecretKey> {
  const key = await signingKeyFrom(args, ctx);
  if (!key) throw new UsageError('no signing key', { hint: 'pass --signing-key FILE or set INGOT_SIGNING_KEY' });
  return key;
}
