/**
 * `ingot serve`: a read-only HTTP(S) server over any store, as a table of
 * contents per request:
 *
 *   method (GET/HEAD only) → route (raw path checked; nothing outside the
 *   served prefixes) → catalogue page | JSON API | iPXE script | object
 *   (stat → conditional/range decision → ranged read from the backend →
 *   stream) → one combined-format access log line when the response closes.
 *
 * The catalogue (metadata, index, channels, boot manifests — never image
 * bytes) is rebuilt at most every `cacheMs`, one build at a time. Closing
 * stops accepting, lets requests in flight finish for `closeGraceMs`, then
 * cuts what is left.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { StoreBackend } from '../store/backend.js';
import { readRange } from '../store/ranges.js';
import type { PublicKey } from '../trust/minisign-format.js';
import { combinedLogLine } from './access-log.js';
import { buildCatalogue, type Catalogue } from './catalogue.js';
import { decide, type Representation } from './conditional.js';
import type { FleetData } from './fleet.js';
import { renderIpxeScript } from './ipxe.js';
import { renderCataloguePage } from './render.js';
import { isServedKey, route } from './routes.js';

/** How to run the server. */
export interface ServeOptions {
  backend: StoreBackend;
  /** Check every signature with this key and show the verdict; iPXE scripts only for verified boot sets. */
  publicKey?: PublicKey;
  host: string;
  /** 0 = any free port. */
  port: number;
  tls?: { cert: string | Buffer; key: string | Buffer };
  log: Logger;
  /** Receives one combined-format line per request. */
  accessLog?: (line: string) => void;
  /** Extra kernel arguments in iPXE scripts (e.g. "console=ttyS0"). */
  bootArgs?: string;
  /** The catalogue is rebuilt at most this often. Default 5000 ms. */
  cacheMs?: number;
  /** Fleet numbers for the page and API (serve --prometheus); undefined = no fleet section. */
  fleet?: (signal: AbortSignal) => Promise<FleetData | undefined>;
  /** How long requests in flight may finish after close(). Default 10 000 ms. */
  closeGraceMs?: number;
}

/** A listening server. */
export interface RunningServer {
  /** Base URL, e.g. "http://127.0.0.1:8080/". */
  url: string;
  port: number;
  close(): Promise<void>;
}

interface Bundle {
  catalogue: Catalogue;
  /** Keys of published images (from metadata), served even outside images/. */
  imageKeys: Set<string>;
}

// Objects and plain answers are never rendered as documents (sandbox); the page gets PAGE_CSP instead.
const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; sandbox",
};
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Starts listening; resolves once the socket is bound. */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const shutdown = new AbortController();
  const cacheMs = options.cacheMs ?? 5000;
  let cached: { at: number; value: Promise<Bundle> } | undefined;
  const bundle = (): Promise<Bundle> => {
    if (!cached || Date.now() - cached.at > cacheMs) {
      const value = buildCatalogue(options.backend, { ...(options.publicKey ? { publicKey: options.publicKey } : {}), signal: shutdown.signal }).then(
        (catalogue) => ({
          catalogue,
          imageKeys: new Set([...catalogue.families.flatMap((f) => f.images), ...catalogue.unfamilied].map((i) => i.key)),
        }),
      );
      const entry = { at: Date.now(), value };
      cached = entry;
      // A failed build is not cached: the next request tries again.
      value.catch(() => {
        if (cached === entry) cached = undefined;
      });
    }
    return cached.value;
  };

  let closing = false;
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const started = new Date();
    let sent = 0;
    res.on('close', () => {
      // While stopping, a keep-alive connection whose last response just ended is closed at once.
      if (closing) setImmediate(() => server.closeIdleConnections());
      options.accessLog?.(
        combinedLogLine({
          remote: req.socket.remoteAddress ?? '-',
          time: started,
          method: req.method ?? '-',
          target: req.url ?? '-',
          httpVersion: req.httpVersion,
          status: res.statusCode,
          bytes: sent,
          referer: header(req, 'referer'),
          userAgent: header(req, 'user-agent'),
        }),
      );
    });
    const count = (n: number) => {
      sent += n;
    };
    serveRequest(req, res, { ...options, bundle, count, signal: shutdown.signal }).catch((error: unknown) => {
      const e = error as IngotError;
      if (res.headersSent) {
        options.log.debug('response cut short', { target: req.url, reason: e.message });
        res.destroy();
        return;
      }
      if (e instanceof IngotError && e.code === ErrorCode.storeChanged) {
        sendText(res, req, 503, 'the object changed while it was being read; retry\n', count, { 'retry-after': '1' });
        return;
      }
      options.log.error(`request failed: ${e?.message ?? String(error)}`, { target: req.url, code: e?.code });
      sendText(res, req, 500, 'internal error; see the server log\n', count);
    });
  };

  // Fail before listening when the store cannot be read (wrong bucket, credentials, path).
  await bundle();

  const server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, handler) : http.createServer(handler);
  server.headersTimeout = 30_000;
  server.requestTimeout = 0; // downloads of large images may take long; idle sockets are closed by keepAliveTimeout
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', (error: Error) => options.log.debug(`TLS handshake failed: ${error.message}`));

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(
        new IngotError(ErrorCode.serveListen, `cannot listen on ${options.host}:${options.port}: ${error.code ?? error.message}`, {
          hint:
            error.code === 'EADDRINUSE'
              ? 'another program uses this port: pick another with --listen'
              : error.code === 'EACCES'
                ? 'ports below 1024 need privileges: use a higher port'
                : 'check --listen',
          exitCode: ExitCode.usage,
          cause: error,
        }),
      );
    };
    server.once('error', onError);
    server.listen(options.port, options.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${options.tls ? 'https' : 'http'}://${host}:${address.port}/`;

  let stopped: Promise<void> | undefined;
  return {
    url,
    port: address.port,
    close: () =>
      (stopped ??= new Promise<void>((resolve) => {
        closing = true;
        server.close(() => resolve());
        server.closeIdleConnections();
        const grace = setTimeout(() => {
          shutdown.abort();
          for (const s of sockets) s.destroy();
        }, options.closeGraceMs ?? 10_000);
        grace.unref();
        server.once('close', () => clearTimeout(grace));
      })),
  };
}

interface RequestContext extends ServeOptions {
  bundle: () => Promise<Bundle>;
  count: (n: number) => void;
  signal: AbortSignal;
}

async function serveRequest(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext): Promise<void> {
  const method = req.method ?? '';
  if (method !== 'GET' && method !== 'HEAD') {
    sendText(res, req, 405, 'only GET and HEAD\n', ctx.count, { allow: 'GET, HEAD' });
    return;
  }
  const r = route(req.url ?? '/');
  switch (r.kind) {
    case 'refused':
      sendText(res, req, r.status, r.status === 404 ? 'not found\n' : `bad request: ${r.reason}\n`, ctx.count);
      return;
    case 'page': {
      const { catalogue } = await ctx.bundle();
      const fleet = await fleetFor(ctx);
      const body = renderCataloguePage(catalogue, { objectBase: '/', ipxe: true, apiHref: '/api/v1/catalogue', ...(fleet ? { fleet } : {}) });
      sendBody(res, req, 'text/html; charset=utf-8', body, ctx.count, { 'content-security-policy': PAGE_CSP });
      return;
    }
    case 'api-catalogue': {
      const { catalogue } = await ctx.bundle();
      const fleet = await fleetFor(ctx);
      sendBody(res, req, 'application/json; charset=utf-8', `${JSON.stringify({ ...catalogue, ...(fleet ? { fleet } : {}) }, null, 2)}\n`, ctx.count);
      return;
    }
    case 'api-objects': {
      const { imageKeys } = await ctx.bundle();
      const objects: { key: string; size: number; modified?: string }[] = [];
      for await (const info of ctx.backend.list(r.prefix, ctx.signal)) {
        if (!isServedKey(info.key) && !imageKeys.has(info.key)) continue;
        objects.push({ key: info.key, size: info.size, ...(info.modified ? { modified: info.modified.toISOString() } : {}) });
      }
      sendBody(res, req, 'application/json; charset=utf-8', `${JSON.stringify({ objects })}\n`, ctx.count);
      return;
    }
    case 'ipxe':
      await serveIpxe(req, res, r.set, ctx);
      return;
    case 'object':
      if (!r.served && !(await ctx.bundle()).imageKeys.has(r.key)) {
        sendText(res, req, 404, 'not found\n', ctx.count);
        return;
      }
      await serveObject(req, res, r.key, ctx);
      return;
  }
}

/** Streams one stored object, honouring HEAD, conditionals and a single Range. */
async function serveObject(req: http.IncomingMessage, res: http.ServerResponse, key: string, ctx: RequestContext): Promise<void> {
  let info;
  try {
    info = await ctx.backend.stat(key, ctx.signal);
  } catch (error) {
    // A link out of the store, or another unreadable entry: refused as absent.
    if (error instanceof IngotError && error.code === ErrorCode.storeIo) {
      ctx.log.warn(`refused ${key}: ${error.message}`);
      sendText(res, req, 404, 'not found\n', ctx.count);
      return;
    }
    throw error;
  }
  if (!info) {
    sendText(res, req, 404, 'not found\n', ctx.count);
    return;
  }
  const validator = info.etag ?? `${info.size.toString(36)}-${(info.modified?.getTime() ?? 0).toString(36)}`;
  const rep: Representation = {
    size: info.size,
    etag: `"${safeEtag(validator)}"`,
    ...(info.modified ? { lastModified: info.modified.toUTCString() } : {}),
  };
  const headers: Record<string, string> = {
    ...SECURITY_HEADERS,
    etag: rep.etag,
    ...(rep.lastModified ? { 'last-modified': rep.lastModified } : {}),
    'accept-ranges': 'bytes',
    // Paths can be re-published: caches must revalidate (cheap, with the ETag).
    'cache-control': 'no-cache',
    'content-type': contentType(key),
  };
  const decision = decide(
    {
      method: req.method ?? 'GET',
      ifMatch: header(req, 'if-match'),
      ifNoneMatch: header(req, 'if-none-match'),
      ifModifiedSince: header(req, 'if-modified-since'),
      ifRange: header(req, 'if-range'),
      range: header(req, 'range'),
    },
    rep,
  );
  if (decision.status === 304 || decision.status === 412) {
    res.writeHead(
      decision.status,
      decision.status === 304
        ? { etag: rep.etag, ...(rep.lastModified ? { 'last-modified': rep.lastModified } : {}), 'cache-control': 'no-cache' }
        : SECURITY_HEADERS,
    );
    res.end();
    return;
  }
  if (decision.status === 416) {
    sendText(res, req, 416, 'range not satisfiable\n', ctx.count, { 'content-range': `bytes */${rep.size}` });
    return;
  }
  const [start, end] = decision.status === 206 ? [decision.start, decision.end] : [0, rep.size - 1];
  const length = rep.size === 0 ? 0 : end - start + 1;
  if (decision.status === 206) headers['content-range'] = `bytes ${start}-${end}/${rep.size}`;
  headers['content-length'] = String(length);
  if (req.method === 'HEAD' || length === 0) {
    res.writeHead(decision.status, headers);
    res.end();
    return;
  }
  // Open before answering, so a vanished or replaced object is still a clean error status.
  const body = await readRange(ctx.backend, key, { start, end }, { signal: ctx.signal, ...(info.etag ? { ifMatch: info.etag } : {}) });
  res.writeHead(decision.status, headers);
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      ctx.count(chunk.length);
      callback(null, chunk);
    },
  });
  try {
    await pipeline(body, counter, res);
  } catch (error) {
    // The client went away (or shutdown cut it): nothing to answer.
    ctx.log.debug('transfer ended early', { key, reason: (error as Error).message });
  }
}

/** /boot/<set>.ipxe: the boot set's kernel and initramfs from this server. */
async function serveIpxe(req: http.IncomingMessage, res: http.ServerResponse, name: string, ctx: RequestContext): Promise<void> {
  const { catalogue } = await ctx.bundle();
  const set = catalogue.bootSets.find((b) => b.name === name);
  if (!set) {
    sendText(res, req, 404, 'no such boot set\n', ctx.count);
    return;
  }
  const kernel = set.kernel.image;
  const initramfs = set.initramfs.image;
  if (!kernel || !initramfs) {
    sendText(res, req, 404, `boot set ${name}: its ${kernel ? 'initramfs' : 'kernel'} is not in the store\n`, ctx.count);
    return;
  }
  if (ctx.publicKey) {
    // With a trusted key, hand out only what verifies: the boot manifest's signature, and both images in the verified index.
    const listed = (key: string) => [...catalogue.families.flatMap((f) => f.images), ...catalogue.unfamilied].find((i) => i.key === key)?.index === 'listed';
    const problem =
      set.signature.status !== 'verified'
        ? `its boot manifest is ${set.signature.status === 'unsigned' ? 'not signed' : `not verified (${set.signature.problem ?? set.signature.status})`}`
        : catalogue.index.signature.status !== 'verified'
          ? 'the store index does not verify'
          : !listed(kernel.key) || !listed(initramfs.key)
            ? 'its kernel or initramfs is not in the signed index'
            : undefined;
    if (problem) {
      ctx.log.warn(`refused iPXE script for boot set ${name}: ${problem}`);
      sendText(res, req, 409, `boot set ${name} refused: ${problem}\n`, ctx.count);
      return;
    }
  }
  const script = renderIpxeScript(
    {
      name,
      kernel: { key: kernel.key, version: set.kernel.version, sha256: set.kernel.sha256 },
      initramfs: { key: initramfs.key, version: set.initramfs.version, sha256: set.initramfs.sha256 },
    },
    ctx.bootArgs,
  );
  sendBody(res, req, 'text/plain; charset=utf-8', script, ctx.count);
}

async function fleetFor(ctx: RequestContext): Promise<FleetData | undefined> {
  if (!ctx.fleet) return undefined;
  try {
    return await ctx.fleet(ctx.signal);
  } catch (error) {
    return { source: 'fleet', at: new Date().toISOString(), versions: [], boots: [], error: (error as Error).message };
  }
}

/** A generated body (page, API, script) with an ETag of its bytes, so revalidation costs no transfer. */
function sendBody(
  res: http.ServerResponse,
  req: http.IncomingMessage,
  type: string,
  text: string,
  count: (n: number) => void,
  extra: Record<string, string> = {},
): void {
  const bytes = Buffer.from(text, 'utf8');
  const etag = `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 27)}"`;
  const headers = { ...SECURITY_HEADERS, ...extra, 'content-type': type, etag, 'cache-control': 'no-cache' };
  const inm = header(req, 'if-none-match');
  if (inm !== undefined && (inm.trim() === '*' || (inm.match(/(?:W\/)?"[^"]*"/g) ?? []).some((t) => t.replace(/^W\//, '') === etag))) {
    res.writeHead(304, { etag, 'cache-control': 'no-cache' });
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'content-length': String(bytes.length) });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  count(bytes.length);
  res.end(bytes);
}

function sendText(
  res: http.ServerResponse,
  req: http.IncomingMessage,
  status: number,
  text: string,
  count: (n: number) => void,
  extra: Record<string, string> = {},
): void {
  const bytes = Buffer.from(text, 'utf8');
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...extra,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(bytes.length),
    'cache-control': 'no-store',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  count(bytes.length);
  res.end(bytes);
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** An entity tag may hold only these characters; anything else is hashed into them. */
function safeEtag(value: string): string {
  return /^[\x21\x23-\x7e]{1,200}$/.test(value) ? value : createHash('sha256').update(value).digest('base64url').slice(0, 27);
}

function contentType(key: string): string {
  if (key.endsWith('.json')) return 'application/json';
  if (key.endsWith('.minisig')) return 'text/plain; charset=utf-8';
  return 'application/octet-stream';
}
