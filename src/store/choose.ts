/**
 * Which store a command uses, and why. First match wins:
 *
 *   1. --store URL
 *   2. spec.store.url in the manifest
 *   3. a bucket (with endpoint, region) in the S3 credentials — the
 *      environment (INGOT_S3_BUCKET, E2_BUCKET, …) or the SOPS file's
 *      `bucket:`/`endpoint:` — selects s3://BUCKET?endpoint=…
 *   4. .ingot/store beside the manifest (or the current directory)
 *
 * S3 credentials given (INGOT_S3_*, E2_* or --credentials) while the store
 * resolves to a local directory are refused: that is the silent mistake of
 * publishing to the laptop while believing it went to the bucket.
 */
import * as path from 'node:path';
import { credentialsGiven, resolveS3Credentials, type S3Credentials } from '../credentials/chain.js';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { defaultStoreUrl, redactUrl } from './open.js';
import { checkEndpoint } from './s3-url.js';

/** Where the store comes from. */
export type StoreOrigin = 'flag' | 'manifest' | 'credentials' | 'default';

export interface StoreChoice {
  /** The URL (or directory) to open. */
  url: string;
  /** Directory a relative `url` resolves against. */
  baseDir: string;
  origin: StoreOrigin;
  /** Why this store, in words: "--store", "spec.store.url in images.yaml", "bucket from E2_BUCKET (environment), endpoint from …". */
  reason: string;
  /** Credentials resolved while choosing (origin "credentials"), so they are not resolved twice. */
  credentials?: S3Credentials;
  /** Things worth a warning (a bucket in the credentials that --store overrides). */
  warnings: string[];
}

export interface ChooseStoreInput {
  /** --store, as given. */
  flag?: string;
  manifest?: { file: string; dir: string; storeUrl?: string };
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** --credentials (absolute) and --sops-age-key-file. */
  credentialsFile?: string;
  ageKeyFile?: string;
  signal?: AbortSignal;
  /** Called with every secret the credentials hold, the moment they are read (for the output scrubber). */
  onSecret?: (secret: string) => void;
  /** How to show paths in messages (default: as given). */
  display?: (file: string) => string;
}

/** Chooses the store; throws INGOT_STORE_CONFLICT (exit 2) for credentials with a local store. */
export async function chooseStore(input: ChooseStoreInput): Promise<StoreChoice> {
  const show = input.display ?? ((f: string) => f);
  const given = credentialsGiven(input.env, input.credentialsFile ? show(input.credentialsFile) : undefined);
  let choice: StoreChoice | undefined;
  if (input.flag !== undefined) {
    choice = { url: input.flag, baseDir: input.cwd, origin: 'flag', reason: '--store', warnings: [] };
  } else if (input.manifest?.storeUrl) {
    choice = {
      url: input.manifest.storeUrl,
      baseDir: input.manifest.dir,
      origin: 'manifest',
      reason: `spec.store.url in ${show(input.manifest.file)}`,
      warnings: [],
    };
  } else if (given.length > 0) {
    const credentials = await resolveS3Credentials({
      env: input.env,
      ...(input.credentialsFile ? { file: input.credentialsFile } : {}),
      ...(input.ageKeyFile ? { ageKeyFile: input.ageKeyFile } : {}),
      ...(input.signal ? { signal: input.signal } : {}),
      ...(input.onSecret ? { onSecret: input.onSecret } : {}),
    });
    if (credentials.bucket)
      choice = fromCredentials(credentials, input.cwd, (text) =>
        input.credentialsFile ? text.split(input.credentialsFile).join(show(input.credentialsFile)) : text,
      );
    else {
      throw conflict(
        defaultDescription(input),
        given,
        `the credentials from the ${credentials.source} name no bucket`,
        'add bucket: (and endpoint:) to the credentials file, or set E2_BUCKET/INGOT_S3_BUCKET (and the endpoint), or pass --store s3://BUCKET?endpoint=…',
      );
    }
  }
  if (!choice) {
    const dir = input.manifest?.dir ?? input.cwd;
    return { url: defaultStoreUrl(dir), baseDir: dir, origin: 'default', reason: defaultDescription(input), warnings: [] };
  }
  if (isLocal(choice.url) && given.length > 0) {
    throw conflict(
      `${choice.reason} (${redactUrl(choice.url)}, a local directory)`,
      given,
      undefined,
      'drop the S3 credentials to publish to the directory, or drop the directory setting to use the bucket they name',
    );
  }
  if (choice.origin !== 'credentials' && !isLocal(choice.url)) {
    for (const [name, value] of [
      ['INGOT_S3_BUCKET', input.env.INGOT_S3_BUCKET],
      ['E2_BUCKET', input.env.E2_BUCKET],
    ] as const) {
      if (value && !choice.url.startsWith(`s3://${value}`))
        choice.warnings.push(`${name} (environment) names bucket "${value}", but ${choice.reason} wins: ${redactUrl(choice.url)}`);
    }
  }
  return choice;
}

/** The s3:// URL the credentials describe; the reason groups fields by where they came from. */
function fromCredentials(c: S3Credentials, cwd: string, show: (text: string) => string): StoreChoice {
  const bucket = c.bucket!;
  // Readable (":" and "/" left as they are), yet parsed back to the same values.
  const param = (name: string, value: string) => `${name}=${value.replace(/[&#%+ ]/g, (ch) => encodeURIComponent(ch))}`;
  const query: string[] = [];
  if (c.endpoint) {
    checkEndpoint(`s3://${bucket}`, c.endpoint);
    query.push(param('endpoint', c.endpoint.replace(/\/+$/, '')));
  }
  if (c.region) query.push(param('region', c.region));
  const url = `s3://${bucket}${query.length ? `?${query.join('&')}` : ''}`;
  const groups = new Map<string, string[]>();
  for (const field of ['bucket', 'endpoint', 'region'] as const) {
    if (!c[field]) continue;
    const origin = show(c.origins?.[field] ?? c.source);
    groups.set(origin, [...(groups.get(origin) ?? []), field]);
  }
  const parts = [...groups].map(([origin, fields]) => `${fields.join(' and ')} from ${origin}`);
  if (!c.endpoint) parts.push('no endpoint (AWS S3)');
  return { url, baseDir: cwd, origin: 'credentials', reason: parts.join(', '), credentials: c, warnings: [] };
}

function defaultDescription(input: ChooseStoreInput): string {
  const show = input.display ?? ((f: string) => f);
  return input.manifest
    ? `default: .ingot/store beside ${show(input.manifest.file)}; no --store, spec.store.url or bucket in the credentials`
    : 'default: .ingot/store in the current directory; no --store, manifest or bucket in the credentials';
}

function isLocal(url: string): boolean {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  return scheme === undefined || scheme === 'file';
}

function conflict(store: string, given: string[], why: string | undefined, hint: string): IngotError {
  return new IngotError(
    ErrorCode.storeConflict,
    `S3 credentials were given but the store is a local directory${why ? `: ${why}` : ''}\n  store: ${store}\n  credentials: ${given.join('; ')}`,
    { exitCode: ExitCode.usage, hint, details: { store, credentials: given } },
  );
}

/** "images/images.yaml" for a file under `cwd`, else the absolute path. */
export function displayPath(cwd: string): (file: string) => string {
  return (file) => {
    const rel = path.relative(cwd, file);
    return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
  };
}
