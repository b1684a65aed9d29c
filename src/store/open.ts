/**
 * Store URLs → backends. A plain path or file:///abs/path is a directory
 * store; other schemes are looked up in `backendFactories`, so a new backend
 * is one new file plus one line here.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import type { HttpOptions } from '../acquire/http-client.js';
import type { S3Credentials } from '../credentials/chain.js';
import type { Logger } from '../log/logger.js';
import type { StoreBackend } from './backend.js';
import { FsBackend } from './fs-backend.js';

export interface OpenStoreContext {
  /** Directory relative paths are resolved against (the manifest's). */
  baseDir: string;
  env: NodeJS.ProcessEnv;
  /** Credentials file options, passed through to backends that need them. */
  credentials?: { file?: string; ageKeyFile?: string };
  /** Credentials already resolved (while choosing the store): used instead of resolving again. */
  resolvedCredentials?: S3Credentials;
  /** Backends must not require credentials (validate, --dry-run on a public store). */
  readOnly?: boolean;
  /** Called with every secret (keys, tokens) the moment a backend learns it, to scrub it from output. */
  onSecret?: (secret: string) => void;
  /** Allow a plain http:// endpoint on a non-loopback host (--allow-insecure-endpoint); warned about. */
  allowInsecureEndpoint?: boolean;
  /** Where a backend's warnings go. */
  log?: Logger;
  /** Download options for HTTP stores (e.g. --connections). */
  http?: HttpOptions;
}

/**
 * Opens a backend. `raw` is the URL exactly as written: `url` has been
 * normalised by the URL parser (which silently resolves "..", so a backend
 * that refuses ".." must look at `raw`).
 */
type BackendFactory = (url: URL, ctx: OpenStoreContext, raw: string) => Promise<StoreBackend>;

/** An HTTP store (read-only); its reads' retries and splits go to the log, each with its URL. */
async function openHttpStore(url: URL, ctx: OpenStoreContext): Promise<StoreBackend> {
  const [{ openHttpBackend }, { loggedHttp }] = await Promise.all([import('./http-backend.js'), import('../acquire/https.js')]);
  return openHttpBackend(url, ctx.log ? loggedHttp(ctx.http ?? {}, ctx.log, true) : ctx.http);
}

/** Schemes other than file: — each entry lazy-loads its backend module. */
export const backendFactories: Record<string, BackendFactory> = {
  s3: async (_url, ctx, raw) => (await import('./s3-backend.js')).openS3Backend(raw, ctx),
  // Read-only: an `ingot serve` URL (http:// only to a loopback address).
  https: openHttpStore,
  http: openHttpStore,
};

/** The default store when nothing is configured: `.ingot/store` beside the manifest. */
export function defaultStoreUrl(manifestDir: string): string {
  return path.join(manifestDir, '.ingot', 'store');
}

export async function openBackend(url: string, ctx: OpenStoreContext): Promise<StoreBackend> {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (!scheme) return new FsBackend(path.resolve(ctx.baseDir, url));
  if (scheme === 'file') {
    let file: string;
    try {
      file = fileURLToPath(url);
    } catch (error) {
      throw badUrl(url, (error as Error).message);
    }
    return new FsBackend(file);
  }
  const factory = backendFactories[scheme];
  if (!factory) throw badUrl(url, `unknown scheme "${scheme}:"`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw badUrl(url, (error as Error).message);
  }
  return factory(parsed, ctx, url);
}

function badUrl(url: string, reason: string): IngotError {
  return new IngotError(ErrorCode.storeUrl, `invalid store URL "${redactUrl(url)}": ${reason}`, {
    hint: 'use a directory path, file:///abs/path, s3://bucket[/prefix]?endpoint=…&region=…, or https://host/ (an `ingot serve` URL, read-only)',
    exitCode: ExitCode.usage,
  });
}

/** Removes userinfo and secret-looking query values from a URL before printing it. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^/@\s]*@/, '//***@').replace(/([?&](?:secret|key|token|password|signature|x-amz-[a-z-]+)=)[^&]*/gi, '$1***');
}
