/**
 * The S3-compatible store backend (AWS, MinIO, Ceph RGW, Garage, iDrive e2,
 * R2) on the AWS SDK v3, loaded lazily. Every key lives under the URL's
 * prefix. The client is created on first use, so read-only commands that
 * never touch the store need no credentials. Server quirks (RGW's empty error
 * messages and empty multipart ETag) are handled by branching on error names
 * and HTTP status, never on messages. See docs/stores.md.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { resolveS3Credentials, type S3Credentials } from '../credentials/chain.js';
import { ErrorCode, IngotError } from '../errors.js';
import type {
  BlobInfo,
  ByteRange,
  GetOptions,
  IncompleteUpload,
  LockOptions,
  ReadRangeOptions,
  StoreBackend,
  StoreLock,
  Upload,
  UploadOptions,
} from './backend.js';
import { objectTooLarge } from './layout.js';
import { assertSafeKey } from './keys.js';
import type { OpenStoreContext } from './open.js';
import { isNotFound, s3Error, s3Name, s3Status } from './s3-errors.js';
import { acquireS3Lock, probeConditionalWrites, s3LockIo } from './s3-lock.js';
import { createS3Upload } from './s3-upload.js';
import { checkEndpoint, checkEndpointTransport, displayS3Url, parseS3Url, type S3Location } from './s3-url.js';

type Sdk = typeof import('@aws-sdk/client-s3');

/** Tuning for the S3 backend; the defaults suit AWS and RGW alike. */
export interface S3BackendOptions {
  /** Attempts per request, first included (SDK standard retry: 5xx, SlowDown, resets). Default 6. */
  maxAttempts?: number;
  /** Upload parts in flight per upload. Default 4. */
  maxInFlightParts?: number;
  /** Parallel requests for listings/deletes. Default 64 sockets. */
  maxSockets?: number;
  /** Per-request inactivity timeout in ms. Default 120000. */
  requestTimeoutMs?: number;
}

/** What `openS3Backend` passes on from the store context. */
type S3BackendInternals = S3BackendOptions & {
  env?: NodeJS.ProcessEnv;
  transport?: { allowInsecure?: boolean; warn?: (message: string) => void };
  onSecret?: (secret: string) => void;
};

const DELETE_BATCH = 1000;

/** Opens an S3 store from its URL; the factory behind `backendFactories.s3`. */
export async function openS3Backend(url: URL | string, ctx: OpenStoreContext, options: S3BackendOptions = {}): Promise<S3Backend> {
  const location = parseS3Url(url);
  const transport = { allowInsecure: ctx.allowInsecureEndpoint, warn: (m: string) => ctx.log?.warn(m) };
  // The URL's endpoint is checked now, before credentials are read; one from credentials when they are.
  if (location.endpoint) checkEndpointTransport(location.endpoint, transport);
  const resolved = ctx.resolvedCredentials;
  const credentials = resolved
    ? () => Promise.resolve(resolved)
    : () => resolveS3Credentials({ env: ctx.env, file: ctx.credentials?.file, ageKeyFile: ctx.credentials?.ageKeyFile, onSecret: ctx.onSecret });
  return new S3Backend(location, credentials, { ...options, env: ctx.env, transport, onSecret: ctx.onSecret });
}

/** A bucket (plus prefix) as a StoreBackend. */
export class S3Backend implements StoreBackend {
  readonly kind = 's3';
  readonly displayUrl: string;
  readonly location: S3Location;
  readonly #credentials: () => Promise<S3Credentials>;
  readonly #options: S3BackendInternals;
  #client: Promise<{ sdk: Sdk; client: S3Client; creds: S3Credentials }> | undefined;
  #lockProbed = false;
  #secrets: string[] = [];

  constructor(location: S3Location, credentials: () => Promise<S3Credentials>, options: S3BackendInternals = {}) {
    this.location = location;
    this.displayUrl = displayS3Url(location);
    this.#credentials = credentials;
    this.#options = options;
  }

  /** Where the credentials came from (after first use), for messages. */
  async credentialsSource(): Promise<string> {
    return (await this.#connect()).creds.source;
  }

  async get(key: string, signal?: AbortSignal, options: GetOptions = {}): Promise<Buffer | undefined> {
    const { sdk, client } = await this.#connect();
    try {
      const out = await client.send(new sdk.GetObjectCommand({ Bucket: this.location.bucket, Key: this.#key(key) }), { abortSignal: signal });
      const max = options.maxBytes;
      if (max === undefined) return Buffer.from(await out.Body!.transformToByteArray());
      const body = out.Body as Readable;
      if (out.ContentLength !== undefined && out.ContentLength > max) {
        body.destroy();
        throw objectTooLarge(key, this.displayUrl, max, out.ContentLength);
      }
      // Count while reading too: a server may send more than it announced.
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of body) {
        total += (chunk as Buffer).length;
        if (total > max) {
          body.destroy();
          throw objectTooLarge(key, this.displayUrl, max);
        }
        chunks.push(chunk as Buffer);
      }
      return Buffer.concat(chunks, total);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw await this.#error(error, 'read', key);
    }
  }

  async put(key: string, data: Uint8Array | string, signal?: AbortSignal): Promise<void> {
    const { sdk, client } = await this.#connect();
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    try {
      await client.send(new sdk.PutObjectCommand({ Bucket: this.location.bucket, Key: this.#key(key), Body: body, ContentLength: body.length }), {
        abortSignal: signal,
      });
    } catch (error) {
      throw await this.#error(error, 'write', key);
    }
  }

  async read(key: string, signal?: AbortSignal): Promise<Readable> {
    const { sdk, client } = await this.#connect();
    try {
      const out = await client.send(new sdk.GetObjectCommand({ Bucket: this.location.bucket, Key: this.#key(key) }), { abortSignal: signal });
      // In Node the body is an http.IncomingMessage: a Readable already.
      return out.Body as Readable;
    } catch (error) {
      if (isNotFound(error)) {
        throw new IngotError(ErrorCode.storeIo, `not in the store: ${key}`, { path: key, cause: error });
      }
      throw await this.#error(error, 'read', key);
    }
  }

  /** One GetObject with a Range header; `ifMatch` becomes If-Match, so a replaced object fails instead of splicing. */
  async readRange(key: string, range: ByteRange, options: ReadRangeOptions = {}): Promise<Readable> {
    const { sdk, client } = await this.#connect();
    try {
      const out = await client.send(
        new sdk.GetObjectCommand({
          Bucket: this.location.bucket,
          Key: this.#key(key),
          Range: `bytes=${range.start}-${range.end ?? ''}`,
          ...(options.ifMatch !== undefined ? { IfMatch: `"${options.ifMatch}"` } : {}),
        }),
        { abortSignal: options.signal },
      );
      return out.Body as Readable;
    } catch (error) {
      if (isNotFound(error)) throw new IngotError(ErrorCode.storeIo, `not in the store: ${key}`, { path: key, cause: error });
      if (s3Name(error) === 'PreconditionFailed' || s3Status(error) === 412) {
        throw new IngotError(ErrorCode.storeChanged, `${key} changed while it was being read`, {
          path: key,
          cause: error,
          hint: 'it was re-published in the meantime; read it again',
        });
      }
      throw await this.#error(error, 'read', key);
    }
  }

  async stat(key: string, signal?: AbortSignal): Promise<BlobInfo | undefined> {
    const { sdk, client } = await this.#connect();
    try {
      const out = await client.send(new sdk.HeadObjectCommand({ Bucket: this.location.bucket, Key: this.#key(key) }), { abortSignal: signal });
      const etag = out.ETag?.replace(/^"|"$/g, '');
      return { key, size: out.ContentLength ?? 0, modified: out.LastModified, ...(etag ? { etag } : {}) };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw await this.#error(error, 'stat', key);
    }
  }

  async upload(key: string, options: UploadOptions = {}): Promise<Upload> {
    const { sdk, client, creds } = await this.#connect();
    const full = this.#key(key);
    const source = creds.source;
    return createS3Upload({
      sdk,
      client,
      bucket: this.location.bucket,
      key: full,
      sizeHint: options.sizeHint,
      maxInFlight: this.#options.maxInFlightParts ?? 4,
      signal: options.signal,
      wrap: (error, op) => this.#wrap(error, op, key, source),
    });
  }

  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<BlobInfo> {
    const { sdk, client } = await this.#connect();
    let token: string | undefined;
    do {
      let out;
      try {
        out = await client.send(
          new sdk.ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: this.location.prefix + prefix, ContinuationToken: token }),
          { abortSignal: signal },
        );
      } catch (error) {
        throw await this.#error(error, 'list', prefix || '/');
      }
      for (const item of out.Contents ?? []) {
        if (!item.Key) continue;
        const key = item.Key.slice(this.location.prefix.length);
        // The lock and its probes are the store's own, not content.
        if (key.split('/').pop()?.startsWith('.ingot-')) continue;
        const etag = item.ETag?.replace(/^"|"$/g, '');
        yield { key, size: item.Size ?? 0, modified: item.LastModified, ...(etag ? { etag } : {}) };
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(keys: readonly string[], signal?: AbortSignal): Promise<void> {
    if (keys.length === 0) return;
    const { sdk, client } = await this.#connect();
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      let out;
      try {
        out = await client.send(
          new sdk.DeleteObjectsCommand({
            Bucket: this.location.bucket,
            Delete: { Objects: batch.map((k) => ({ Key: this.#key(k) })), Quiet: true },
          }),
          { abortSignal: signal },
        );
      } catch (error) {
        throw await this.#error(error, 'delete', batch[0]);
      }
      const failed = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) {
        const first = failed[0]!;
        throw new IngotError(
          ErrorCode.storeIo,
          `cannot delete ${failed.length} object(s) in ${this.displayUrl}, first ${first.Key ?? '?'}: ${first.Code ?? 'error'}`,
          {
            path: first.Key?.slice(this.location.prefix.length),
            details: { failed: failed.map((e) => ({ key: e.Key, code: e.Code })) },
          },
        );
      }
    }
  }

  async lock(options: LockOptions): Promise<StoreLock> {
    const { sdk, client } = await this.#connect();
    const io = s3LockIo(sdk, client, this.location, this.displayUrl, (error, op, key) => this.#error(error, op, key));
    if (!this.#lockProbed) {
      await probeConditionalWrites(io, this.location.prefix, this.displayUrl, options.signal);
      this.#lockProbed = true;
    }
    return acquireS3Lock(io, this.location.prefix, this.displayUrl, options);
  }

  async *listIncompleteUploads(signal?: AbortSignal): AsyncIterable<IncompleteUpload> {
    const { sdk, client } = await this.#connect();
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    for (;;) {
      let out;
      try {
        out = await client.send(
          new sdk.ListMultipartUploadsCommand({ Bucket: this.location.bucket, Prefix: this.location.prefix, KeyMarker: keyMarker, UploadIdMarker: idMarker }),
          { abortSignal: signal },
        );
      } catch (error) {
        throw await this.#error(error, 'list pending uploads in', this.location.prefix || '/');
      }
      for (const u of out.Uploads ?? []) {
        if (!u.Key || !u.UploadId) continue;
        yield { key: u.Key.slice(this.location.prefix.length), uploadId: u.UploadId, initiated: u.Initiated };
      }
      if (!out.IsTruncated) return;
      keyMarker = out.NextKeyMarker;
      idMarker = out.NextUploadIdMarker;
      if (!keyMarker && !idMarker) return;
    }
  }

  async abortIncompleteUploads(olderThanMs: number, signal?: AbortSignal): Promise<IncompleteUpload[]> {
    const { sdk, client } = await this.#connect();
    const cutoff = Date.now() - olderThanMs;
    const aborted: IncompleteUpload[] = [];
    for await (const upload of this.listIncompleteUploads(signal)) {
      // An upload with no start time is treated as old: it cannot be a live one we can see.
      if (upload.initiated && upload.initiated.getTime() > cutoff) continue;
      try {
        await client.send(
          new sdk.AbortMultipartUploadCommand({ Bucket: this.location.bucket, Key: this.location.prefix + upload.key, UploadId: upload.uploadId }),
          { abortSignal: signal },
        );
      } catch (error) {
        if (s3Name(error) !== 'NoSuchUpload') throw await this.#error(error, 'abort pending upload', upload.key);
      }
      aborted.push(upload);
    }
    return aborted;
  }

  async close(): Promise<void> {
    const pending = this.#client;
    this.#client = undefined;
    if (pending) (await pending.catch(() => undefined))?.client.destroy();
  }

  #key(key: string): string {
    assertSafeKey(key);
    return this.location.prefix + key;
  }

  #connect(): Promise<{ sdk: Sdk; client: S3Client; creds: S3Credentials }> {
    this.#client ??= (async () => {
      const [sdk, creds] = await Promise.all([import('@aws-sdk/client-s3'), this.#credentials()]);
      // Known now, scrubbed from every line from now on (also when the source did not report them).
      this.#secrets = [creds.accessKeyId, creds.secretAccessKey, ...(creds.sessionToken ? [creds.sessionToken] : [])];
      for (const secret of this.#secrets) this.#options.onSecret?.(secret);
      const env = this.#options.env ?? {};
      const endpoint = this.location.endpoint ?? creds.endpoint;
      if (endpoint && !this.location.endpoint) {
        checkEndpoint(this.displayUrl, endpoint);
        checkEndpointTransport(endpoint, this.#options.transport);
      }
      const sockets = this.#options.maxSockets ?? 64;
      const client = new sdk.S3Client({
        region: this.location.region ?? creds.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
        endpoint,
        // Path-style whenever an endpoint is given: most non-AWS servers have no wildcard DNS.
        forcePathStyle: this.location.forcePathStyle ?? endpoint !== undefined,
        credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, sessionToken: creds.sessionToken },
        requestChecksumCalculation: this.location.checksum,
        responseChecksumValidation: this.location.checksum,
        maxAttempts: this.#options.maxAttempts ?? 6,
        retryMode: 'standard',
        requestHandler: {
          httpAgent: new http.Agent({ keepAlive: true, maxSockets: sockets }),
          httpsAgent: new https.Agent({ keepAlive: true, maxSockets: sockets }),
          connectionTimeout: 10_000,
          requestTimeout: this.#options.requestTimeoutMs ?? 120_000,
        },
      });
      return { sdk, client, creds };
    })();
    // A failed start (no credentials) is not cached: the next call tries again.
    this.#client.catch(() => {
      this.#client = undefined;
    });
    return this.#client;
  }

  async #error(error: unknown, op: string, key: string | undefined): Promise<IngotError> {
    const source = this.#client ? (await this.#client.catch(() => undefined))?.creds.source : undefined;
    return this.#wrap(error, op, key, source);
  }

  #wrap(error: unknown, op: string, key: string | undefined, source: string | undefined): IngotError {
    return s3Error(error, {
      op,
      key,
      bucket: this.location.bucket,
      store: this.displayUrl,
      credentialsSource: source,
      secrets: this.#secrets,
    });
  }
}
