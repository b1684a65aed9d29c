/**
 * Hosts pull from an `ingot serve` URL: over HTTPS with the throwaway CA,
 * through a TCP proxy that cuts the first image transfer in the middle — the
 * pull resumes with Range + If-Range (the server answers 206) and the cache
 * holds verified bytes. Also: channels over HTTP, `ingot list` through the
 * objects API, and plain http:// to loopback.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { silentLogger } from '../../src/log/logger.js';
import { signStoreIndex } from '../../src/trust/sign-store.js';
import { bytesFor, publish } from '../cache/fixtures.js';
import { runCli } from '../helpers/fixtures.js';
import { testCa } from '../helpers/tls.js';
import { catalogueStore } from './fixtures.js';
import { startServe } from './serve-process.js';

const cleanups: (() => Promise<void>)[] = [];
const t = { after: (fn: () => Promise<void>) => void cleanups.push(fn) };
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A TCP proxy that drops the first connection once it has carried `cutAfter` bytes towards the client. */
async function cuttingProxy(target: number, cutAfter: number): Promise<{ port: number; cuts: () => number; close(): Promise<void> }> {
  let cuts = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    let down = 0;
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      down += chunk.length;
      if (cuts === 0 && down > cutAfter) {
        cuts++;
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    upstream.on('end', () => client.end());
    upstream.on('error', end);
    client.on('error', end);
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    cuts: () => cuts,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('ingot pull from an ingot serve URL', () => {
  it('over HTTPS, cut mid-transfer by the network, resumes with a ranged request and verifies', async () => {
    const fx = await catalogueStore(t);
    const big = bytesFor('talos-big', 6 * 1024 * 1024 + 11);
    await publish(fx.store, { path: 'talos/talos-2.0.0-amd64.raw', bytes: big, name: 'talos-2.0.0', family: 'talos', version: '2.0.0' });
    await signStoreIndex(fx.store, fx.key, { log: silentLogger, force: true });
    const ca = testCa();
    const serve = await startServe([
      '--store',
      path.join(fx.dir, 'store'),
      '--tls-cert',
      path.join(ca.dir, 'server.pem'),
      '--tls-key',
      path.join(ca.dir, 'server.key'),
    ]);
    t.after(async () => void (await serve.stop()));
    const proxy = await cuttingProxy(Number(new URL(serve.url).port), 1024 * 1024);
    t.after(() => proxy.close());

    const cache = path.join(fx.dir, 'cache');
    const r = await runCli(['pull', 'talos-2.0.0', '--store', `https://127.0.0.1:${proxy.port}/`, '--to', cache, '--public-key', fx.publicKeyFile, '--json'], {
      env: { NODE_EXTRA_CA_CERTS: ca.caCertFile },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(proxy.cuts(), 1, 'the transfer was cut once');
    // The retry is in the log, with the object it was for.
    assert.match(r.stderr, /WARN +retrying in \d+ ms: .*url=https:\/\/127\.0\.0\.1:\d+\/images\/talos\/talos-2\.0\.0-amd64\.raw/);
    const result = JSON.parse(r.stdout) as { localPath: string; status: string };
    assert.equal(result.status, 'pulled');
    assert.equal(sha(await fs.readFile(result.localPath)), sha(big));
    const lines = serve.accessLog.filter((l) => l.includes('talos-2.0.0-amd64.raw'));
    assert.ok(
      lines.some((l) => /" 206 \d+ /.test(l)),
      `a ranged request resumed the transfer:\n${lines.join('\n')}`,
    );
    const resumed = Number(/" 206 (\d+) /.exec(lines.find((l) => / 206 /.test(l))!)![1]);
    assert.ok(resumed < big.length, `the resumed request sent only the rest (${resumed} of ${big.length} bytes)`);
  });

  it('resolves a channel over HTTP, lists through the objects API, and accepts plain http to loopback', async () => {
    const fx = await catalogueStore(t);
    const serve = await startServe(['--store', path.join(fx.dir, 'store')]);
    t.after(async () => void (await serve.stop()));
    assert.match(serve.url, /^http:\/\/127\.0\.0\.1:/);
    const cache = path.join(fx.dir, 'cache');
    const r = await runCli(['pull', 'talos', '--channel', 'stable', '--store', serve.url, '--to', cache, '--public-key', fx.publicKeyFile, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const pulled = JSON.parse(r.stdout) as { version: string; localPath: string };
    assert.equal(pulled.version, '1.9.1', 'stable was rolled back to 1.9.1');
    assert.equal(sha(await fs.readFile(pulled.localPath)), sha(await fs.readFile(path.join(fx.dir, 'store', 'images', 'talos', 'talos-1.9.1-amd64.raw'))));

    const listed = await runCli(['list', '--store', serve.url, '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const paths = (JSON.parse(listed.stdout).images as { path: string }[]).map((i) => i.path).sort();
    assert.deepEqual(paths, [...fx.published.keys()].sort());

    const write = await runCli(['sign', '--store', serve.url, '--signing-key', path.join(fx.dir, 'keys', 'ingot.key')]);
    assert.equal(write.code, 2, 'an HTTP store is read-only');
    assert.match(write.stderr, /INGOT_STORE_READ_ONLY/);
  });

  it('refuses plain http to another host, before any request', async () => {
    const r = await runCli([
      'pull',
      'x',
      '--store',
      'http://192.0.2.1:8080/',
      '--to',
      '/tmp/never',
      '--public-key',
      'RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3',
    ]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /INGOT_HTTP_INSECURE/);
  });
});
