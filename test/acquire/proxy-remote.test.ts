import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { diskImage, runCli, sha256, tempDir, writeManifest } from '../helpers/fixtures.js';
import { startHttpsServer, type TestServer } from '../helpers/https-server.js';

const body = diskImage(300 * 1024, 21);
let server: TestServer;
let proxy: Server;
let proxyUrl: string;
const tunnels: string[] = [];

describe('HTTPS_PROXY and validate --remote', () => {
  before(async () => {
    server = await startHttpsServer({ '/img': { body } });
    // A minimal CONNECT proxy that records every tunnel it opens.
    proxy = createServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', (req, socket, head) => {
      tunnels.push(req.url ?? '');
      const [host, port] = (req.url ?? '').split(':');
      const upstream = connect(Number(port), host, () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(socket);
        socket.pipe(upstream);
      });
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });
  after(async () => {
    await server.close();
    proxy.closeAllConnections();
    proxy.close();
  });

  it('downloads through HTTPS_PROXY', async () => {
    const dir = tempDir();
    writeManifest(dir, [{ name: 'img', source: { type: 'https', url: server.url('/img'), checksum: sha256(body) }, destination: { path: 'img' } }]);
    const r = await runCli(['sync'], { cwd: dir, env: { NODE_EXTRA_CA_CERTS: server.caCertFile, HTTPS_PROXY: proxyUrl, NO_PROXY: '' } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(tunnels.includes(new URL(server.origin).host), `tunnels: ${tunnels.join(', ')}`);
  });

  it('validate --remote reports status and size, and fails for a 404', async () => {
    const dir = tempDir();
    writeManifest(dir, [
      { name: 'img', source: { type: 'https', url: server.url('/img'), checksum: sha256(body) }, destination: { path: 'img' } },
      { name: 'gone', source: { type: 'https', url: server.url('/gone'), checksum: sha256(body) }, destination: { path: 'gone' } },
    ]);
    const getsBefore = server.count('/img', 'GET');
    const r = await runCli(['validate', '--remote', '--json'], { cwd: dir, env: { NODE_EXTRA_CA_CERTS: server.caCertFile } });
    assert.equal(r.code, 1);
    const data = JSON.parse(r.stdout);
    assert.equal(data.valid, true);
    assert.deepEqual(
      data.remote.map((x: { image: string; status: number; size?: number; ok: boolean }) => [x.image, x.status, x.size, x.ok]),
      [
        ['img', 200, body.length, true],
        ['gone', 404, undefined, false],
      ],
    );
    assert.equal(server.count('/img', 'GET'), getsBefore, 'HEAD only');
  });
});
