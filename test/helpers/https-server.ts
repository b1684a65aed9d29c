/**
 * A real HTTPS server on 127.0.0.1:0 for tests, benchmarks and the demo.
 * Files are served with Content-Length, ETag and Range support; each path can
 * be given a queue of faults consumed one per request (a cut connection, a
 * 503 with Retry-After, a server that ignores Range, a short body, a
 * redirect). Every request is recorded so tests can count them.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { serverCertFor, testCa } from './tls.js';

export type Fault = (
  | { kind: 'status'; status: number; retryAfter?: string }
  | { kind: 'cut'; afterBytes: number }
  | { kind: 'ignore-range' }
  | { kind: 'short'; bytes: number }
  | { kind: 'redirect'; location: string }
  | { kind: 'bad-range' }
  /** Headers at once, the body only after `ms`. */
  | { kind: 'pause'; ms: number }
) & {
  /** Only for a request whose Range starts at this byte (parallel ranged requests arrive in any order); others pass it by. */
  rangeFrom?: number;
};

export interface Served {
  /** Bytes in memory, or a file on disk (for large benchmark images). */
  body?: Buffer;
  file?: string;
  faults?: Fault[];
  /** Serve with Range support (default true). */
  ranges?: boolean;
  /** Pause this long between 64 KiB chunks (a slow server). */
  slowMs?: number;
}

export interface RequestRecord {
  method: string;
  path: string;
  /** The Host header (the name a client asked for, through a proxy). */
  host?: string;
  range?: string;
}

export interface TestServer {
  url: (path: string) => string;
  origin: string;
  caCertFile: string;
  caCert: string;
  files: Map<string, Served>;
  requests: RequestRecord[];
  /** Requests for one path (GET and HEAD). */
  count(path: string, method?: string): number;
  /** Client connections open right now. */
  openSockets(): number;
  close(): Promise<void>;
}

/** `hostnames`: also present a certificate for these names (reached through a CONNECT proxy, see connect-proxy.ts). */
export async function startHttpsServer(files: Record<string, Served> = {}, options: { hostnames?: readonly string[] } = {}): Promise<TestServer> {
  const ca = testCa();
  const table = new Map(Object.entries(files));
  const requests: RequestRecord[] = [];
  const sockets = new Set<Socket>();
  const pair = options.hostnames?.length ? serverCertFor(options.hostnames) : { key: ca.key, cert: ca.cert };
  const server: Server = createServer(pair, (req, res) => handle(req, res, table, requests));
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `https://127.0.0.1:${port}`;
  return {
    url: (path) => `${origin}${path}`,
    origin,
    caCertFile: ca.caCertFile,
    caCert: ca.caCert,
    files: table,
    requests,
    count: (path, method) => requests.filter((r) => r.path === path && (!method || r.method === method)).length,
    openSockets: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A plain-http server (for the https → http redirect test). */
export async function startHttpServer(
  files: Record<string, Served>,
): Promise<{ url: (p: string) => string; close(): Promise<void>; requests: RequestRecord[] }> {
  const table = new Map(Object.entries(files));
  const requests: RequestRecord[] = [];
  const server: HttpServer = createHttpServer((req, res) => handle(req, res, table, requests));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (p) => `http://127.0.0.1:${port}${p}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The first queued fault that applies to this request, taken off the queue. */
function takeFault(served: Served, range: string | undefined): Fault | undefined {
  const from = range ? Number(/^bytes=(\d+)-/.exec(range)?.[1]) : undefined;
  const index = served.faults?.findIndex((f) => f.rangeFrom === undefined || f.rangeFrom === from) ?? -1;
  return index < 0 ? undefined : served.faults!.splice(index, 1)[0];
}

function handle(req: IncomingMessage, res: ServerResponse, table: Map<string, Served>, requests: RequestRecord[]): void {
  const path = new URL(req.url ?? '/', 'https://x').pathname;
  const range = req.headers.range;
  requests.push({ method: req.method ?? 'GET', path, ...(req.headers.host ? { host: req.headers.host } : {}), ...(range ? { range } : {}) });
  const served = table.get(path);
  if (!served) {
    res.writeHead(404).end('not found');
    return;
  }
  const size = served.body ? served.body.length : statSync(served.file!).size;
  const etag = `"${size.toString(16)}-${path.length}"`;
  const fault = req.method === 'HEAD' ? undefined : takeFault(served, range);
  if (fault?.kind === 'status') {
    res.writeHead(fault.status, fault.retryAfter ? { 'retry-after': fault.retryAfter } : {}).end('fault');
    return;
  }
  if (fault?.kind === 'redirect') {
    res.writeHead(302, { location: fault.location }).end();
    return;
  }
  let start = 0;
  let end = size - 1;
  let status = 200;
  const useRange = served.ranges !== false && fault?.kind !== 'ignore-range' && range;
  if (useRange) {
    const m = /^bytes=(\d+)-(\d*)$/.exec(range);
    if (m) {
      start = Number(m[1]);
      end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
      if (start >= size) {
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      status = 206;
    }
  }
  const headers: Record<string, string | number> = {
    'content-length': end - start + 1,
    'content-type': 'application/octet-stream',
    etag,
    ...(served.ranges !== false ? { 'accept-ranges': 'bytes' } : {}),
  };
  if (status === 206) headers['content-range'] = fault?.kind === 'bad-range' ? `bytes ${start + 1}-${end}/${size}` : `bytes ${start}-${end}/${size}`;
  res.writeHead(status, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  if (fault?.kind === 'pause') {
    res.flushHeaders();
    setTimeout(() => sendBody(res, served, start, end, undefined), fault.ms);
    return;
  }
  sendBody(res, served, start, end, fault);
}

function sendBody(res: ServerResponse, served: Served, start: number, end: number, fault: Fault | undefined): void {
  const limit = fault?.kind === 'cut' ? fault.afterBytes : fault?.kind === 'short' ? fault.bytes : Infinity;
  const slice = served.body ? served.body.subarray(start, Math.min(end + 1, start + limit)) : undefined;
  if (slice && served.slowMs) {
    let offset = 0;
    const step = () => {
      if (res.destroyed) return;
      if (offset >= slice.length) return void res.end();
      const chunk = slice.subarray(offset, offset + 65536);
      offset += chunk.length;
      res.write(chunk, () => setTimeout(step, served.slowMs));
    };
    step();
    return;
  }
  if (slice) {
    if (limit === Infinity) {
      res.end(slice);
      return;
    }
    res.write(slice, () => {
      // A cut: drop the connection mid-body. A short body: end the socket cleanly but early.
      if (fault?.kind === 'cut') res.socket?.destroy();
      else res.socket?.end();
    });
    return;
  }
  const stream = createReadStream(served.file!, { start, end: Number.isFinite(limit) ? Math.min(end, start + limit - 1) : end, highWaterMark: 1 << 20 });
  stream.pipe(res);
  stream.on('end', () => {
    if (Number.isFinite(limit)) res.socket?.destroy();
  });
}
