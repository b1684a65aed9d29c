/**
 * A small HTTP proxy for fault injection between the SDK and RGW: it forwards
 * requests unchanged (the Host header too, so SigV4 signatures still match)
 * and, on a fixed schedule, answers 500 InternalError, 503 SlowDown, or cuts
 * the connection instead. Deterministic: request n gets `schedule(n)`.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault = 'pass' | '500' | '503' | 'cut';

export interface FaultProxy {
  endpoint: string;
  /** Counts of what was done, by fault kind. */
  stats: Record<Fault, number>;
  close(): Promise<void>;
}

const xmlError = (code: string) => `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message></Message><RequestId>fault</RequestId></Error>`;

/** Starts the proxy on 127.0.0.1:0 in front of `upstream` (http://host:port). */
export async function startFaultProxy(upstream: string, schedule: (n: number) => Fault): Promise<FaultProxy> {
  const target = new URL(upstream);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const stats: Record<Fault, number> = { pass: 0, '500': 0, '503': 0, cut: 0 };
  let n = 0;
  const server = http.createServer((req, res) => {
    const fault = schedule(++n);
    stats[fault]++;
    if (fault === 'cut') {
      // Take a little of the body, then drop the connection mid-request.
      req.once('data', () => req.socket.destroy());
      req.once('end', () => req.socket.destroy());
      req.resume();
      return;
    }
    if (fault === '500' || fault === '503') {
      req.resume();
      req.once('end', () => {
        const body = xmlError(fault === '500' ? 'InternalError' : 'SlowDown');
        res.writeHead(Number(fault), { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    const upstreamReq = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    upstreamReq.on('error', () => res.destroy());
    req.pipe(upstreamReq);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      agent.destroy();
    },
  };
}
