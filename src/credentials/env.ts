/**
 * Credentials in the environment: which variables hold S3 keys (in the order
 * the chain tries them) and which values are secrets. Kept apart from the
 * chain so the CLI can register every secret at start-up without loading
 * the SOPS decoder.
 */

/** One family of credential variables (the first complete pair wins). */
export interface EnvSource {
  label: string;
  access: string;
  secret: string;
  token?: string;
  endpoint?: string;
  bucket?: string;
  region?: string;
}

// Order matters: the first complete pair wins.
export const ENV_SOURCES: readonly EnvSource[] = [
  {
    label: 'INGOT_S3_*',
    access: 'INGOT_S3_ACCESS_KEY',
    secret: 'INGOT_S3_SECRET_KEY',
    token: 'INGOT_S3_SESSION_TOKEN',
    endpoint: 'INGOT_S3_ENDPOINT',
    bucket: 'INGOT_S3_BUCKET',
    region: 'INGOT_S3_REGION',
  },
  {
    label: 'AWS_*',
    access: 'AWS_ACCESS_KEY_ID',
    secret: 'AWS_SECRET_ACCESS_KEY',
    token: 'AWS_SESSION_TOKEN',
    endpoint: 'AWS_ENDPOINT_URL_S3',
    region: 'AWS_REGION',
  },
  { label: 'E2_*', access: 'E2_ACCESS_KEY', secret: 'E2_SECRET_KEY', endpoint: 'E2_ENDPOINT', bucket: 'E2_BUCKET', region: 'E2_REGION' },
];

/** Environment variables whose values are secrets wherever they appear (scrubbed from all output). */
export const SECRET_ENV_NAMES: readonly string[] = [
  ...ENV_SOURCES.flatMap((s) => [s.access, s.secret, ...(s.token ? [s.token] : [])]),
  'SOPS_AGE_KEY',
  'INGOT_SIGNING_PASSWORD',
];

/**
 * Every secret value the environment holds, known before any work starts:
 * the S3 keys and tokens of every source (not only the one that wins), the
 * age identities in SOPS_AGE_KEY, the signing password, and the lines of a
 * signing key pasted into INGOT_SIGNING_KEY.
 */
export function secretsInEnvironment(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const name of SECRET_ENV_NAMES) {
    const value = env[name];
    if (value)
      out.push(
        value,
        ...value
          .split(/\r?\n/)
          .map((l) => l.trim())
          .filter((l) => l.length >= 16 && l !== value),
      );
  }
  const key = env.INGOT_SIGNING_KEY;
  // A path is not a secret; pasted key contents are (each line, the encrypted key included).
  if (key && /\n/.test(key.trim()))
    out.push(
      ...key
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter((l) => l.length >= 16 && !l.startsWith('untrusted comment')),
    );
  return out;
}
