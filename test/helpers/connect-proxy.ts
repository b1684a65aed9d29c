/**
 * An HTTP CONNECT proxy that sends every tunnel, whatever host it names, to
 * one local server. With HTTPS_PROXY pointing at it and a server whose
 * certificate carries the document's host names (startHttpsServer's
 * `hostnames`), a manifest keeps its real https:// URLs and still runs
 * offline: TLS is verified end to end against the test CA.
 */
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';

export interface ConnectProxy {
  /** http://127.0.0.1:PORT, for HTTPS_PROXY. */
  url: string;
  /** "host:port" of every tunnel asked for, in order. */
  tunnels: string[];
  close(): Promise<void>;
}

/** Starts the proxy; every CONNECT goes to `target` (a local port). */
export async function startConnectProxy(target: { host: string; port: number }): Promise<ConnectProxy> {
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const proxy: Server = createServer((_req, res) => res.writeHead(405).end('CONNECT only'));
  proxy.on('connect', (req, socket: Socket, head) => {
    tunnels.push(req.url ?? '');
    sockets.add(socket);
    const upstream = connect(target.port, target.host, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
    const forget = () => {
      sockets.delete(socket);
      sockets.delete(upstream);
    };
    socket.on('close', forget);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    tunnels,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        proxy.close(() => resolve());
      }),
  };
}
