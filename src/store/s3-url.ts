/**
 * The S3 store URL: `s3://bucket[/prefix]?endpoint=…&region=…
 * [&forcePathStyle=true|false][&checksum=when_required|when_supported]`.
 * Parsed and checked here, before any network or credentials are touched.
 */
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { relativePathProblem } from './keys.js';
import { redactUrl } from './open.js';
import { isLoopbackHost } from '../util/loopback.js';

/** How the SDK computes and checks flexible checksums. */
export type ChecksumMode = 'WHEN_REQUIRED' | 'WHEN_SUPPORTED';

/** Everything an S3 store URL says. */
export interface S3Location {
  bucket: string;
  /** Key prefix with a trailing "/", or "" for the bucket root. */
  prefix: string;
  endpoint: string | undefined;
  region: string | undefined;
  /** undefined = path-style when an endpoint is given, virtual-host otherwise. */
  forcePathStyle: boolean | undefined;
  checksum: ChecksumMode;
}

const KNOWN_PARAMS = new Set(['endpoint', 'region', 'forcePathStyle', 'checksum']);
// S3 bucket naming rules (lowercase, digits, dots, hyphens; 3–63 characters).
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const REGION_RE = /^[a-z0-9-]{1,64}$/i;

/** Parses and checks an s3:// store URL; throws INGOT_STORE_URL (exit 2) with the reason. */
export function parseS3Url(input: URL | string): S3Location {
  const text = String(input);
  let url: URL;
  try {
    url = typeof input === 'string' ? new URL(input) : input;
  } catch (error) {
    throw bad(text, (error as Error).message);
  }
  if (url.protocol !== 's3:') throw bad(text, `expected the s3: scheme, got "${url.protocol}"`);
  if (url.username || url.password) {
    throw bad(text, 'credentials do not belong in the URL', 'pass them by environment or --credentials (see docs/stores.md)');
  }
  if (url.port) throw bad(text, 'a port belongs to ?endpoint=, not to the bucket');
  const decode = (part: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw bad(text, 'malformed %-escape in the bucket or prefix');
    }
  };
  const bucket = decode(url.hostname);
  if (!BUCKET_RE.test(bucket) || bucket.includes('..')) {
    throw bad(text, `expected a bucket name of 3–63 lowercase letters, digits, "." or "-", got "${bucket}"`);
  }
  // The path as written: URL parsing would silently resolve "..".
  const writtenPath = /^s3:\/\/[^/?#]*([^?#]*)/i.exec(text)?.[1] ?? url.pathname;
  const rawPrefix = decode(writtenPath).replace(/^\/+|\/+$/g, '');
  if (rawPrefix !== '') {
    const problem = relativePathProblem(rawPrefix);
    if (problem) throw bad(text, `the prefix "${rawPrefix}" ${problem}`);
  }
  for (const name of url.searchParams.keys()) {
    if (!KNOWN_PARAMS.has(name)) {
      throw bad(text, `unknown parameter "${name}"`, `known parameters: ${[...KNOWN_PARAMS].join(', ')}`);
    }
  }
  const endpoint = url.searchParams.get('endpoint') ?? undefined;
  if (endpoint !== undefined) checkEndpoint(text, endpoint);
  const region = url.searchParams.get('region') ?? undefined;
  if (region !== undefined && !REGION_RE.test(region)) throw bad(text, `expected a region like us-east-1, got "${region}"`);
  return {
    bucket,
    prefix: rawPrefix === '' ? '' : `${rawPrefix}/`,
    endpoint: endpoint?.replace(/\/+$/, ''),
    region,
    forcePathStyle: parseBool(text, 'forcePathStyle', url.searchParams.get('forcePathStyle')),
    checksum: parseChecksum(text, url.searchParams.get('checksum')),
  };
}

/** The URL to print: bucket, prefix and endpoint (never credentials). */
export function displayS3Url(loc: S3Location): string {
  const query = loc.endpoint ? `?endpoint=${loc.endpoint}` : '';
  return `s3://${loc.bucket}/${loc.prefix}${query}`;
}

/** Checks an endpoint taken from the URL or from credentials. */
export function checkEndpoint(urlText: string, endpoint: string): void {
  let parsed: URL;
  try {
    parsed = new URL(endpoint);
  } catch {
    throw bad(urlText, `expected endpoint to be an http(s) URL, got "${redactUrl(endpoint)}"`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw bad(urlText, `expected endpoint to be an http(s) URL, got "${redactUrl(endpoint)}"`);
  }
  if (parsed.username || parsed.password) throw bad(urlText, 'the endpoint must not carry credentials');
}

export { isLoopbackHost };

/**
 * The transport rule for S3 endpoints: https, or plain http only on the
 * loopback interface (traffic that never leaves the machine), or elsewhere
 * only when the user allowed it explicitly — then with a warning, because
 * the request signature, the access key id, a session token and every byte
 * travel readable by anyone on the path. Throws INGOT_HTTP_INSECURE (exit 2).
 */
export function checkEndpointTransport(endpoint: string, options: { allowInsecure?: boolean; warn?: (message: string) => void } = {}): void {
  let parsed: URL;
  try {
    parsed = new URL(endpoint);
  } catch {
    return; // syntax is checkEndpoint's business
  }
  if (parsed.protocol !== 'http:' || isLoopbackHost(parsed.hostname)) return;
  const shown = redactUrl(endpoint);
  if (!options.allowInsecure) {
    throw new IngotError(ErrorCode.httpInsecure, `refusing the plain http:// S3 endpoint ${shown}: credentials and data would travel unencrypted`, {
      url: shown,
      hint: 'use https://; only if this network is trusted, pass --allow-insecure-endpoint (or set INGOT_ALLOW_INSECURE_ENDPOINT=1)',
      exitCode: ExitCode.usage,
    });
  }
  options.warn?.(
    `the S3 endpoint ${shown} is plain http (allowed by --allow-insecure-endpoint): request signatures, the access key id, any session token and all data travel unencrypted`,
  );
}

function parseBool(text: string, name: string, value: string | null): boolean | undefined {
  if (value === null) return undefined;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw bad(text, `expected ${name}=true or false, got "${value}"`);
}

function parseChecksum(text: string, value: string | null): ChecksumMode {
  if (value === null) return 'WHEN_REQUIRED';
  const upper = value.toUpperCase();
  if (upper === 'WHEN_REQUIRED' || upper === 'WHEN_SUPPORTED') return upper;
  throw bad(text, `expected checksum=when_required or when_supported, got "${value}"`);
}

function bad(url: string, reason: string, hint?: string): IngotError {
  const shown = url.replace(/\/\/[^/@\s]*@/, '//***@');
  return new IngotError(ErrorCode.storeUrl, `invalid S3 store URL "${shown}": ${reason}`, {
    hint: hint ?? 'use s3://bucket[/prefix]?endpoint=https://host&region=us-east-1',
    exitCode: ExitCode.usage,
  });
}
