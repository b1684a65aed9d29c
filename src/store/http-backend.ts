/**
 * A read-only store over HTTPS: an `ingot serve` URL (or any static server
 * that lays the store out under one URL, for everything but `list`). Reads
 * go through the download client, so they retry, resume a cut transfer with
 * Range + If-Range and refuse https → http redirects. Plain http:// is
 * accepted only to a loopback address (a serve on the same machine); the
 * bytes are trusted for what the signed index says, never for where they
 * came from. Listing uses serve's JSON API (/api/v1/objects).
 */
import type { Readable } from 'node:stream';
import { download, head, isLoopbackHost, type HttpOptions } from '../acquire/http-client.js';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import type { BlobInfo, ByteRange, LockOptions, ReadRangeOptions, StoreBackend, StoreLock, Upload } from './backend.js';
import { assertSafeKey } from './keys.js';
import { redactUrl } from './open.js';
import { sliceStream } from './ranges.js';

/** Small objects (metadata, index, channels, boot manifests) are read whole up to this size. */
const SMALL_OBJECT_MAX = 64 * 1024 * 1024;

/** The objects listing `ingot serve` answers at api/v1/objects. */
export interface ObjectListing {
  objects: { key: string; size: number; modified?: string }[];
}

/** Opens an http(s):// store URL; the factory behind `backendFactories.https`/`.http`. */
export function openHttpBackend(url: URL, options: HttpOptions = {}): HttpBackend {
  if (url.username || url.password) throw badUrl(url, 'credentials do not belong in the URL');
  if (url.search || url.hash) throw badUrl(url, 'a store URL takes no query or fragment');
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new IngotError(ErrorCode.httpInsecure, `refusing a plain http store URL to a host other than this machine: ${redactUrl(url.toString())}`, {
      hint: 'serve the store with TLS (`ingot serve --tls-cert … --tls-key …`) and use https://; plain http is accepted only for 127.0.0.1/::1/localhost',
      exitCode: ExitCode.usage,
    });
  }
  return new HttpBackend(url, options);
}

/** A store read over HTTP(S). Every write fails with INGOT_STORE_READ_ONLY. */
export class HttpBackend implements StoreBackend {
  readonly kind = 'http';
  readonly displayUrl: string;
  readonly #base: string;
  readonly #http: HttpOptions;

  constructor(url: URL, options: HttpOptions = {}) {
    this.#base = url.toString().replace(/\/*$/, '/');
    this.displayUrl = this.#base;
    this.#http = { retries: 5, ...options, allowLoopbackHttp: true };
  }

  #url(key: string): string {
    assertSafeKey(key);
    return this.#base + key.split('/').map(encodeURIComponent).join('/');
  }

  async get(key: string, signal?: AbortSignal): Promise<Buffer | undefined> {
    const body = await this.#open(key, signal, undefined, true);
    if (!body) return undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      size += (chunk as Buffer).length;
      if (size > SMALL_OBJECT_MAX) {
        body.destroy();
        throw new IngotError(ErrorCode.storeIo, `${key} is larger than ${SMALL_OBJECT_MAX} bytes; not a small object`, { path: key, url: this.#url(key) });
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  async read(key: string, signal?: AbortSignal): Promise<Readable> {
    return (await this.#open(key, signal))!;
  }

  /**
   * Asks for `bytes=start-` and cuts at `end` here. `ifMatch` is not enforced
   * over HTTP: callers of ranged reads verify the digest of the whole.
   */
  async readRange(key: string, range: ByteRange, options: ReadRangeOptions = {}): Promise<Readable> {
    const body = (await this.#open(key, options.signal, { start: range.start }))!;
    return range.end === undefined ? body : sliceStream(body, 0, range.end - range.start);
  }

  async stat(key: string, signal?: AbortSignal): Promise<BlobInfo | undefined> {
    const url = this.#url(key);
    let answer;
    try {
      answer = await head(url, this.#http, signal);
    } catch (error) {
      throw this.#error(error, 'stat', key);
    }
    if (answer.status === 404 || answer.status === 410) return undefined;
    if (answer.status !== 200) throw new IngotError(ErrorCode.storeIo, `cannot stat ${key}: HTTP ${answer.status} from ${url}`, { path: key, url });
    const etag = answer.etag && !answer.etag.startsWith('W/') ? answer.etag.replace(/^"|"$/g, '') : undefined;
    const modified = answer.lastModified ? new Date(answer.lastModified) : undefined;
    return { key, size: answer.size ?? 0, ...(modified && !Number.isNaN(modified.getTime()) ? { modified } : {}), ...(etag ? { etag } : {}) };
  }

  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<BlobInfo> {
    const url = `${this.#base}api/v1/objects?prefix=${encodeURIComponent(prefix)}`;
    let text: string;
    try {
      const { body } = await download(url, this.#http, signal);
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      text = Buffer.concat(chunks).toString('utf8');
    } catch (error) {
      const status = (error as IngotError).details?.status;
      if (status === 404) {
        throw new IngotError(ErrorCode.storeIo, `cannot list ${this.displayUrl}: it is not an \`ingot serve\` URL (no api/v1/objects)`, {
          url,
          hint: 'listing an HTTP store needs `ingot serve`; a static copy can still be pulled from, by path or name',
        });
      }
      throw this.#error(error, 'list', prefix || '/');
    }
    let listing: ObjectListing;
    try {
      listing = JSON.parse(text) as ObjectListing;
      if (!Array.isArray(listing.objects)) throw new Error('no "objects" array');
    } catch (error) {
      throw new IngotError(ErrorCode.storeIo, `cannot list ${this.displayUrl}: the object listing is not valid (${(error as Error).message})`, { url });
    }
    for (const o of listing.objects) {
      if (typeof o.key !== 'string' || !o.key.startsWith(prefix) || typeof o.size !== 'number') continue;
      yield { key: o.key, size: o.size, ...(o.modified ? { modified: new Date(o.modified) } : {}) };
    }
  }

  put(): Promise<void> {
    return Promise.reject(this.#readOnly('write'));
  }

  upload(): Promise<Upload> {
    return Promise.reject(this.#readOnly('write'));
  }

  delete(): Promise<void> {
    return Promise.reject(this.#readOnly('delete'));
  }

  lock(_options: LockOptions): Promise<StoreLock> {
    return Promise.reject(this.#readOnly('lock'));
  }

  async close(): Promise<void> {}

  /** GET (optionally from an offset); undefined for 404 when `absentOk`. */
  async #open(key: string, signal: AbortSignal | undefined, from?: { start: number; validator?: string }, absentOk = false): Promise<Readable | undefined> {
    const url = this.#url(key);
    try {
      return (await download(url, this.#http, signal, from)).body;
    } catch (error) {
      const status = (error as IngotError).details?.status;
      if (status === 404 || status === 410) {
        if (absentOk) return undefined;
        throw new IngotError(ErrorCode.storeIo, `not in the store: ${key}`, { path: key, url, cause: error });
      }
      throw this.#error(error, 'read', key);
    }
  }

  #error(error: unknown, op: string, key: string): IngotError {
    if (error instanceof IngotError) {
      return error.code === ErrorCode.httpInsecure
        ? error
        : new IngotError(error.code === ErrorCode.httpStatus ? ErrorCode.storeIo : error.code, `cannot ${op} ${key} in ${this.displayUrl}: ${error.message}`, {
            path: key,
            hint: error.hint,
            cause: error,
            details: error.details,
          });
    }
    if ((error as Error)?.name === 'AbortError') return new IngotError(ErrorCode.aborted, `interrupted: ${op} ${key}`, { cause: error });
    return new IngotError(ErrorCode.storeIo, `cannot ${op} ${key} in ${this.displayUrl}: ${(error as Error)?.message ?? String(error)}`, {
      path: key,
      cause: error,
    });
  }

  #readOnly(op: string): IngotError {
    return new IngotError(ErrorCode.storeReadOnly, `cannot ${op} ${this.displayUrl}: an HTTP store is read-only`, {
      hint: 'write to the store behind the server (its directory or s3:// URL); use the http(s) URL to pull, list and mirror from',
      exitCode: ExitCode.usage,
    });
  }
}

function badUrl(url: URL, reason: string): IngotError {
  return new IngotError(ErrorCode.storeUrl, `invalid store URL "${redactUrl(url.toString())}": ${reason}`, {
    hint: 'use https://host[:port][/path/] (an `ingot serve` URL)',
    exitCode: ExitCode.usage,
  });
}
