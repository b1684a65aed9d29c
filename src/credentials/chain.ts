/**
 * S3 credentials, first match wins: the environment (INGOT_S3_*, then the
 * standard AWS_*, then iDrive e2's E2_*), then a SOPS file encrypted for age.
 * Credentials may also say where the store is (endpoint, bucket, region);
 * what the winning source leaves out is taken from the environment's
 * location variables (INGOT_S3_ENDPOINT/_BUCKET/_REGION, E2_ENDPOINT/_BUCKET/_REGION).
 * Errors name the sources tried and the key that failed, never a value.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import * as path from 'node:path';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { ENV_SOURCES } from './env.js';
import type { SopsValue } from './sops.js';

export { secretsInEnvironment, SECRET_ENV_NAMES } from './env.js';

/** What the chain found. `source` says where, for messages (never a value). */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  endpoint?: string;
  region?: string;
  bucket?: string;
  source: string;
  /** Where endpoint, bucket and region came from ("E2_BUCKET", "bucket in FILE"), for messages. */
  origins?: Partial<Record<LocationField, string>>;
}

type LocationField = 'endpoint' | 'bucket' | 'region';

export interface ResolveOptions {
  env: NodeJS.ProcessEnv;
  /**
   * Called with every secret the moment it is known (key id, secret key,
   * session token, age identities), so the caller can scrub it from all output.
   */
  onSecret?: (secret: string) => void;
  /** A SOPS file (`--credentials`). */
  file?: string;
  /** An age identity file (`--sops-age-key-file`); else SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, ~/.config/sops/age/keys.txt. */
  ageKeyFile?: string;
  signal?: AbortSignal;
}

// Names accepted in a SOPS credentials file (compared lower-case), per field.
const FILE_KEYS = {
  accessKeyId: ['access_key', 'access_key_id', 'aws_access_key_id', 'e2_access_key', 'ingot_s3_access_key', 'accesskeyid'],
  secretAccessKey: ['secret_key', 'secret_access_key', 'aws_secret_access_key', 'e2_secret_key', 'ingot_s3_secret_key', 'secretaccesskey'],
  sessionToken: ['session_token', 'aws_session_token', 'sessiontoken'],
  endpoint: ['endpoint', 'endpoint_url', 'aws_endpoint_url_s3', 'e2_endpoint', 's3_endpoint'],
  region: ['region', 'aws_region', 'aws_default_region', 'e2_region'],
  bucket: ['bucket', 'e2_bucket', 's3_bucket'],
} as const;

/** Environment variables that say where the store is, per field, in order (ingot's own first). */
const LOCATION_ENV: Record<LocationField, readonly string[]> = {
  endpoint: ['INGOT_S3_ENDPOINT', 'E2_ENDPOINT'],
  bucket: ['INGOT_S3_BUCKET', 'E2_BUCKET'],
  region: ['INGOT_S3_REGION', 'E2_REGION'],
};

/**
 * What in the environment and on the command line shows an intent to use an
 * S3 store: ingot's and e2's variables, and a credentials file. The ambient
 * AWS_* variables do not count (many machines have them for other tools).
 * Names only, never values.
 */
export function credentialsGiven(env: NodeJS.ProcessEnv, file: string | undefined): string[] {
  const given: string[] = [];
  for (const prefix of ['INGOT_S3_', 'E2_']) {
    const names = ['ACCESS_KEY', 'SECRET_KEY', 'SESSION_TOKEN', 'ENDPOINT', 'BUCKET'].map((n) => prefix + n).filter((n) => env[n]);
    if (names.length > 0) given.push(`${names.join(', ')} (environment)`);
  }
  if (file) given.push(`--credentials ${file}`);
  return given;
}

/** Resolves S3 credentials from env, then the SOPS file; throws INGOT_CREDENTIALS_* naming what was tried. */
export async function resolveS3Credentials(options: ResolveOptions): Promise<S3Credentials> {
  return withEnvLocation(await resolveKeys(options), options.env);
}

/** Fills endpoint/bucket/region the winning source left out from the location variables, and records origins. */
function withEnvLocation(creds: S3Credentials, env: NodeJS.ProcessEnv): S3Credentials {
  const out: S3Credentials = { ...creds, origins: { ...creds.origins } };
  for (const field of ['endpoint', 'bucket', 'region'] as const) {
    if (out[field]) continue;
    const name = LOCATION_ENV[field].find((n) => env[n]);
    if (name) {
      out[field] = env[name];
      out.origins![field] = `${name} (environment)`;
    }
  }
  if (Object.keys(out.origins!).length === 0) delete out.origins;
  return out;
}

async function resolveKeys(options: ResolveOptions): Promise<S3Credentials> {
  const { env } = options;
  const tried: string[] = [];
  for (const source of ENV_SOURCES) {
    const access = env[source.access];
    const secret = env[source.secret];
    if (access && secret) {
      const origins: Partial<Record<LocationField, string>> = {};
      const fromEnv = (field: LocationField, name: string | undefined): string | undefined => {
        const value = name ? env[name] || undefined : undefined;
        if (value) origins[field] = `${name} (environment)`;
        return value;
      };
      const endpoint = fromEnv('endpoint', source.endpoint);
      const bucket = fromEnv('bucket', source.bucket);
      const region = fromEnv('region', source.region);
      for (const value of [access, secret, source.token ? env[source.token] : undefined]) if (value) options.onSecret?.(value);
      return compact({
        accessKeyId: access,
        secretAccessKey: secret,
        sessionToken: source.token ? env[source.token] || undefined : undefined,
        endpoint,
        region: region || env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined,
        bucket,
        source: `environment (${source.label})`,
        ...(Object.keys(origins).length ? { origins } : {}),
      });
    }
    if (access || secret) {
      tried.push(`${source.label}: ${access ? source.secret : source.access} is not set`);
    } else {
      tried.push(`${source.label}: not set`);
    }
  }
  if (options.file) {
    return fromSopsFile(options.file, options, tried);
  }
  tried.push('--credentials: no SOPS file given');
  throw new IngotError(ErrorCode.credentialsMissing, 'no S3 credentials found', {
    hint: 'set INGOT_S3_ACCESS_KEY and INGOT_S3_SECRET_KEY (or AWS_*/E2_*), or pass --credentials FILE.sops.yaml with an age key',
    exitCode: ExitCode.usage,
    details: { tried },
  });
}

async function fromSopsFile(file: string, options: ResolveOptions, tried: string[]): Promise<S3Credentials> {
  const text = await readFile(file, { encoding: 'utf8', signal: options.signal }).catch((error: unknown) => {
    throw new IngotError(ErrorCode.credentialsMissing, `cannot read credentials file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      path: file,
      hint: 'check the --credentials path',
      exitCode: ExitCode.usage,
      details: { tried },
    });
  });
  const identities = await loadAgeIdentities(options);
  for (const key of identities.keys) options.onSecret?.(key);
  // With no age identity, a file with PGP recipients still opens through gpg; otherwise the error says where we looked.
  // SOPS (age, gpg, the MAC) loads only for an encrypted credentials file.
  const { decryptSops } = await import('./sops.js');
  const doc = await decryptSops(text, identities.keys, file, { ageTried: identities.tried, gpg: { env: options.env, signal: options.signal } }).catch(
    (error: unknown) => {
      if (error instanceof IngotError && error.code === ErrorCode.credentialsMissing) {
        throw new IngotError(error.code, error.message, {
          path: file,
          hint: error.hint,
          exitCode: error.exitCode,
          details: { tried: [...tried, ...identities.tried] },
        });
      }
      throw error;
    },
  );
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || Buffer.isBuffer(doc)) {
    throw new IngotError(ErrorCode.credentialsInvalid, `credentials file ${file} is not a mapping`, { path: file });
  }
  const flat = new Map<string, SopsValue>();
  for (const [key, value] of Object.entries(doc)) flat.set(key.toLowerCase(), value);
  // A file whose only entry is a mapping (an INI file's one section): the keys are in it.
  const sections = [...flat.values()].filter((v) => typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v));
  if (sections.length === 1 && sections.length === flat.size) {
    flat.clear();
    for (const [key, value] of Object.entries(sections[0] as Record<string, SopsValue>)) flat.set(key.toLowerCase(), value);
  }
  const pick = (field: keyof typeof FILE_KEYS): string | undefined => {
    for (const name of FILE_KEYS[field]) {
      const value = flat.get(name);
      if (typeof value === 'string' && value !== '') return value;
    }
    return undefined;
  };
  const accessKeyId = pick('accessKeyId');
  const secretAccessKey = pick('secretAccessKey');
  for (const value of [accessKeyId, secretAccessKey, pick('sessionToken')]) if (value) options.onSecret?.(value);
  if (!accessKeyId || !secretAccessKey) {
    const missing = !accessKeyId ? 'access_key' : 'secret_key';
    throw new IngotError(ErrorCode.credentialsInvalid, `credentials file ${file} has no ${missing}`, {
      path: file,
      hint: `add ${missing} (or ${FILE_KEYS[missing === 'access_key' ? 'accessKeyId' : 'secretAccessKey'].slice(1, 3).join(' / ')}) and re-encrypt`,
      details: { keys: [...flat.keys()] },
    });
  }
  const origins: Partial<Record<LocationField, string>> = {};
  const located = (field: LocationField): string | undefined => {
    const value = pick(field);
    if (value) origins[field] = `SOPS file ${file}`;
    return value;
  };
  const endpoint = located('endpoint');
  const region = located('region');
  const bucket = located('bucket');
  return compact({
    accessKeyId,
    secretAccessKey,
    sessionToken: pick('sessionToken'),
    endpoint,
    region,
    bucket,
    source: `SOPS file ${file}`,
    ...(Object.keys(origins).length ? { origins } : {}),
  });
}

/** Age identities from the key file option, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, or sops' default keys.txt. */
export async function loadAgeIdentities(options: ResolveOptions): Promise<{ keys: string[]; tried: string[] }> {
  const { env } = options;
  const tried: string[] = [];
  const files: [string, string][] = [];
  if (options.ageKeyFile) files.push(['--sops-age-key-file', options.ageKeyFile]);
  if (env.SOPS_AGE_KEY_FILE) files.push(['SOPS_AGE_KEY_FILE', env.SOPS_AGE_KEY_FILE]);
  for (const [label, file] of files) {
    const text = await readFile(file, { encoding: 'utf8', signal: options.signal }).catch(() => undefined);
    if (text === undefined) {
      throw new IngotError(ErrorCode.credentialsMissing, `cannot read the age key file ${file} (${label})`, {
        path: file,
        hint: 'check the path of the age identity file',
        exitCode: ExitCode.usage,
      });
    }
    const keys = parseIdentities(text);
    if (keys.length > 0) return { keys, tried };
    tried.push(`${label} ${file}: no AGE-SECRET-KEY line`);
  }
  if (env.SOPS_AGE_KEY) {
    const keys = parseIdentities(env.SOPS_AGE_KEY);
    if (keys.length > 0) return { keys, tried };
    tried.push('SOPS_AGE_KEY: no AGE-SECRET-KEY in it');
  } else {
    tried.push('SOPS_AGE_KEY: not set');
  }
  const config = env.XDG_CONFIG_HOME || (env.HOME ? path.join(env.HOME, '.config') : path.join(homedir(), '.config'));
  const fallback = path.join(config, 'sops', 'age', 'keys.txt');
  const text = await readFile(fallback, 'utf8').catch(() => undefined);
  if (text !== undefined) {
    const keys = parseIdentities(text);
    if (keys.length > 0) return { keys, tried };
  }
  tried.push(`${fallback}: ${text === undefined ? 'absent' : 'no key'}`);
  return { keys: [], tried };
}

/** The AGE-SECRET-KEY-1… lines of an identity file (comments and blanks skipped). */
export function parseIdentities(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => /^AGE-SECRET-KEY-(?:PQ-)?1[0-9A-Z]+$/.test(line));
}

function compact(c: S3Credentials): S3Credentials {
  const out = { ...c } as Record<string, unknown>;
  for (const key of Object.keys(out)) if (out[key] === undefined) delete out[key];
  return out as unknown as S3Credentials;
}
