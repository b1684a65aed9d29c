/**
 * A throttling TCP proxy on loopback, to measure downloads over slow links:
 * a token bucket per connection and/or one shared by all, added latency each
 * way, optional random connection drops. Bytes are forwarded unchanged (TLS
 * passes through), so a client reaches the origin's HTTPS server through
 * `https://127.0.0.1:<proxy port>/…` with the origin's certificate.
 *
 * Shaping: each direction of each connection is a queue of ≤ 16 KiB slices;
 * a slice leaves when both buckets allow it (time = max(now, next) + bytes /
 * rate) and is delivered `latencyMs` later. Reading from the sender stops
 * while more than 4 MiB wait (above rate × latency, or the proxy itself would cap throughput like a small TCP window), so memory stays flat and TCP backpressure
 * reaches the sender as on a real link.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export interface ThrottleOptions {
  /** Where to forward to. */
  target: { host: string; port: number };
  /** Bytes per second for each connection, each direction (undefined = unlimited). */
  perConnectionRate?: number;
  /** Bytes per second for all connections together, each direction (undefined = unlimited). */
  totalRate?: number;
  /** Added one-way delay, each direction. */
  latencyMs?: number;
  /** Probability, per 1 MiB forwarded towards the client, that the connection is cut. */
  dropPerMiB?: number;
}

export interface ThrottleProxy {
  port: number;
  url(path: string): string;
  /** Connections accepted, and cut on purpose. */
  stats: { connections: number; dropped: number };
  close(): Promise<void>;
}

const SLICE = 16 * 1024;
const HIGH_WATER = 4 << 20;

/** Mbit/s → bytes per second. */
export const mbit = (n: number): number => (n * 1e6) / 8;

class Bucket {
  next = 0;
  constructor(readonly rate: number | undefined) {}
  /** When `bytes` may leave, given they cannot leave before `earliest` (ms). */
  reserve(bytes: number, earliest: number): number {
    if (!this.rate) return earliest;
    const start = Math.max(earliest, this.next);
    this.next = start + (bytes / this.rate) * 1000;
    return this.next;
  }
}

export async function startThrottleProxy(options: ThrottleOptions): Promise<ThrottleProxy> {
  const totalUp = new Bucket(options.totalRate);
  const totalDown = new Bucket(options.totalRate);
  const sockets = new Set<Socket>();
  const stats = { connections: 0, dropped: 0 };

  const server: Server = createServer((client) => {
    stats.connections++;
    const upstream = connect(options.target.port, options.target.host);
    sockets.add(client).add(upstream);
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', cut).on('close', () => (sockets.delete(client), upstream.end()));
    upstream.on('error', cut).on('close', () => (sockets.delete(upstream), client.end()));
    shape(client, upstream, new Bucket(options.perConnectionRate), totalUp, options.latencyMs ?? 0);
    shape(
      upstream,
      client,
      new Bucket(options.perConnectionRate),
      totalDown,
      options.latencyMs ?? 0,
      options.dropPerMiB
        ? () => {
            if (Math.random() < options.dropPerMiB!) {
              stats.dropped++;
              cut();
              return true;
            }
            return false;
          }
        : undefined,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: (path) => `https://127.0.0.1:${port}${path}`,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Forwards `from` → `to` through the buckets with added latency; `maybeDrop` is asked once per MiB. */
function shape(from: Socket, to: Socket, own: Bucket, shared: Bucket, latencyMs: number, maybeDrop?: () => boolean): void {
  // One ordered queue and one timer per direction: separate timers per slice may fire out of order.
  const queue: { due: number; slice: Buffer }[] = [];
  let waiting = 0;
  let sinceDrop = 0;
  let ended = false;
  let timer: NodeJS.Timeout | undefined;
  const pump = () => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && queue[0]!.due <= now + 1) {
      const { slice } = queue.shift()!;
      waiting -= slice.length;
      if (to.destroyed) return;
      to.write(slice);
      sinceDrop += slice.length;
      if (maybeDrop && sinceDrop >= 1 << 20) {
        sinceDrop = 0;
        if (maybeDrop()) return;
      }
    }
    if (waiting < HIGH_WATER && from.isPaused()) from.resume();
    if (queue.length > 0) timer = setTimeout(pump, queue[0]!.due - now);
    else if (ended) to.end();
  };
  from.on('data', (chunk: Buffer) => {
    for (let offset = 0; offset < chunk.length; offset += SLICE) {
      const slice = chunk.subarray(offset, offset + SLICE);
      const now = performance.now();
      const leaves = Math.max(own.reserve(slice.length, now), shared.reserve(slice.length, now));
      // Keep the two buckets in step: a slice held back by one holds the other too.
      own.next = Math.max(own.next, leaves);
      queue.push({ due: leaves + latencyMs, slice });
      waiting += slice.length;
    }
    if (waiting >= HIGH_WATER) from.pause();
    timer ??= setTimeout(pump, queue[0]!.due - performance.now());
  });
  from.on('end', () => {
    ended = true;
    if (queue.length === 0 && !timer) to.end();
  });
}
