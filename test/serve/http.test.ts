/**
 * `ingot serve` against the real curl: HEAD, ranges, conditional requests,
 * methods, path traversal (encoded dots, backslashes, double slashes,
 * symlinks leading out of a directory store), what is served at all, the
 * access log, TLS, and a graceful stop in the middle of a transfer.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { bytesFor } from '../cache/fixtures.js';
import { runCli } from '../helpers/fixtures.js';
import { testCa } from '../helpers/tls.js';
import { needTool, requireTools } from '../helpers/tools.js';
import { which } from '../../src/exec/which.js';
import { catalogueStore, type CatalogueStore } from './fixtures.js';
import { startServe, waitFor, type ServeProcess } from './serve-process.js';

const exec = promisify(execFile);
const hasCurl = which('curl') !== undefined;

interface CurlResult {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** curl with the path sent as written (--path-as-is); returns status, headers and body. */
async function curl(url: string, ...args: string[]): Promise<CurlResult> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'ingot-curl-'));
  try {
    const headerFile = path.join(dir, 'headers');
    const { stdout } = await exec('curl', ['-sS', '--path-as-is', '-D', headerFile, '-o', '-', ...args, url], { encoding: 'buffer', maxBuffer: 64 << 20 });
    const blocks = (await fs.readFile(headerFile, 'utf8')).trim().split(/\r?\n\r?\n/);
    const last = blocks[blocks.length - 1]!.split(/\r?\n/);
    const headers: Record<string, string> = {};
    for (const line of last.slice(1)) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
    }
    return { status: Number(/^HTTP\/[\d.]+ (\d+)/.exec(last[0] ?? '')?.[1]), headers, body: stdout };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

// Cleanups run when the file's tests are done (a hook registered inside a running hook would run too early).
const cleanups: (() => Promise<void>)[] = [];
const t = { after: (fn: () => Promise<void>) => void cleanups.push(fn) };
after(async () => {
  for (const fn of cleanups) await fn();
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('ingot serve over HTTP (curl)', { skip: !hasCurl && !requireTools ? 'curl not installed' : false }, () => {
  let fx: CatalogueStore;
  let serve: ServeProcess;
  let base: string;
  const image = 'images/talos/talos-1.9.1-amd64.raw';
  let bytes: Buffer;

  before(async () => {
    fx = await catalogueStore(t);
    const root = path.join(fx.dir, 'store');
    bytes = await fs.readFile(path.join(root, image));
    // Things that must never be served: a secret beside the store, links out of it, internal files.
    await fs.writeFile(path.join(fx.dir, 'secret.txt'), 'top secret\n');
    await fs.writeFile(path.join(root, 'notes.txt'), 'not a store object\n');
    await fs.symlink(path.join(fx.dir, 'secret.txt'), path.join(root, 'images', 'escape.raw'));
    await fs.symlink(fx.dir, path.join(root, 'images', 'outside'));
    await fs.symlink('talos/talos-1.9.1-amd64.raw', path.join(root, 'images', 'inside.raw'));
    serve = await startServe(['--store', root, '--public-key', fx.publicKeyFile, '--boot-args', 'console=ttyS0']);
    base = serve.url;
  });
  after(async () => {
    await serve?.stop();
  });

  it('HEAD and GET of an image: length, validators, ranges advertised, exact bytes', async () => {
    const head = await curl(base + image, '-I');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(bytes.length));
    assert.equal(head.headers['accept-ranges'], 'bytes');
    assert.match(head.headers.etag ?? '', /^"[^"]+"$/);
    assert.ok(head.headers['last-modified']);
    const get = await curl(base + image);
    assert.equal(get.status, 200);
    assert.equal(sha(get.body), sha(bytes));
    assert.equal(get.headers.etag, head.headers.etag);
  });

  it('Range: a slice, an open range, a suffix, a clamped end, and 416 past the end', async () => {
    const slice = await curl(base + image, '-H', 'Range: bytes=1000-1999');
    assert.equal(slice.status, 206);
    assert.equal(slice.headers['content-range'], `bytes 1000-1999/${bytes.length}`);
    assert.deepEqual(slice.body, bytes.subarray(1000, 2000));
    const open = await curl(base + image, '-r', `${bytes.length - 100}-`);
    assert.equal(open.status, 206);
    assert.deepEqual(open.body, bytes.subarray(bytes.length - 100));
    const suffix = await curl(base + image, '-H', 'Range: bytes=-7');
    assert.deepEqual(suffix.body, bytes.subarray(bytes.length - 7));
    const clamped = await curl(base + image, '-H', `Range: bytes=${bytes.length - 3}-${bytes.length + 1000}`);
    assert.equal(clamped.headers['content-range'], `bytes ${bytes.length - 3}-${bytes.length - 1}/${bytes.length}`);
    const beyond = await curl(base + image, '-H', `Range: bytes=${bytes.length}-`);
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers['content-range'], `bytes */${bytes.length}`);
  });

  it('conditional requests: If-None-Match → 304, If-Range match → 206, mismatch → whole 200, If-Modified-Since → 304', async () => {
    const { headers } = await curl(base + image, '-I');
    const etag = headers.etag!;
    const notModified = await curl(base + image, '-H', `If-None-Match: ${etag}`);
    assert.equal(notModified.status, 304);
    assert.equal(notModified.body.length, 0);
    assert.equal((await curl(base + image, '-H', 'If-None-Match: "something-else"')).status, 200);
    const resumed = await curl(base + image, '-H', 'Range: bytes=100-', '-H', `If-Range: ${etag}`);
    assert.equal(resumed.status, 206);
    assert.deepEqual(resumed.body, bytes.subarray(100));
    const changed = await curl(base + image, '-H', 'Range: bytes=100-', '-H', 'If-Range: "stale"');
    assert.equal(changed.status, 200);
    assert.equal(changed.body.length, bytes.length);
    assert.equal((await curl(base + image, '-H', `If-Modified-Since: ${headers['last-modified']}`)).status, 304);
    // curl's own resume (-C -) is a plain Range request.
    const page = await curl(base);
    assert.equal((await curl(base, '-H', `If-None-Match: ${page.headers.etag}`)).status, 304, 'the page revalidates too');
  });

  it('only GET and HEAD', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
      const r = await curl(base + image, '-X', method);
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.allow, 'GET, HEAD');
    }
    assert.ok(await fs.stat(path.join(fx.dir, 'store', image)), 'DELETE deleted nothing');
  });

  it('refuses path traversal: encoded dots, backslashes, double slashes, encoded slashes', async () => {
    for (const p of [
      '../secret.txt',
      'images/../../secret.txt',
      'images/%2e%2e/%2e%2e/secret.txt',
      'images/%2E%2E%2F%2E%2E%2Fsecret.txt',
      'images/..%5c..%5csecret.txt',
      'images\\..\\..\\secret.txt',
      '/secret.txt',
      'images//../../secret.txt',
      'images/%252e%252e/secret.txt',
    ]) {
      const r = await curl(base + p);
      assert.ok([400, 404].includes(r.status), `${p}: ${r.status}`);
      assert.ok(!r.body.toString().includes('top secret'), p);
    }
  });

  it('refuses symlinks that lead out of a directory store, and follows one that stays inside', async () => {
    assert.equal((await curl(`${base}images/escape.raw`)).status, 404);
    assert.equal((await curl(`${base}images/outside/secret.txt`)).status, 404);
    assert.equal((await curl(`${base}images/escape.raw`, '-I')).status, 404);
    const inside = await curl(`${base}images/inside.raw`);
    assert.equal(inside.status, 200);
    assert.equal(sha(inside.body), sha(bytes));
    const listing = JSON.parse((await curl(`${base}api/v1/objects?prefix=images/`)).body.toString()) as { objects: { key: string }[] };
    assert.ok(
      !listing.objects.some((o) => o.key.includes('escape') || o.key.includes('outside')),
      `links are not listed: ${listing.objects.map((o) => o.key).join(' ')}`,
    );
    assert.ok(listing.objects.some((o) => o.key === 'images/talos/talos-1.9.1-amd64.raw'));
    assert.deepEqual(JSON.parse((await curl(`${base}api/v1/objects?prefix=images/outside/`)).body.toString()), { objects: [] });
  });

  it('serves nothing outside images/, metadata/, boot/, channels/ and the index', async () => {
    assert.equal((await curl(`${base}notes.txt`)).status, 404);
    assert.equal((await curl(`${base}keys/ingot.key`)).status, 404);
    assert.equal((await curl(`${base}.ingot-lock`)).status, 404);
    for (const p of [
      'index.json',
      'index.json.minisig',
      'metadata/talos/talos-1.9.1-amd64.raw.json',
      'channels/talos.json',
      'channels/talos.json.minisig',
      'boot/lab.json',
    ]) {
      const r = await curl(base + p);
      assert.equal(r.status, 200, p);
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
    }
    const listed = JSON.parse((await curl(`${base}api/v1/objects`)).body.toString()) as { objects: { key: string }[] };
    assert.ok(listed.objects.some((o) => o.key === 'index.json'));
    assert.ok(!listed.objects.some((o) => o.key === 'notes.txt'));
  });

  it('/boot/<set>.ipxe: a script booting the set from this server', async () => {
    const r = await curl(`${base}boot/lab.ipxe`);
    assert.equal(r.status, 200);
    const text = r.body.toString();
    assert.match(text, /^#!ipxe\n/);
    assert.match(text, /^kernel \.\.\/images\/boot\/vmlinuz-test initrd=initrd\.img console=ttyS0$/m);
    assert.match(text, /^initrd --name initrd\.img \.\.\/images\/boot\/initramfs-test\.img$/m);
    assert.equal((await curl(`${base}boot/nope.ipxe`)).status, 404);
  });

  it('writes one combined-format access log line per request', async () => {
    await curl(base + image, '-H', 'Range: bytes=0-9', '-A', 'ingot-test "agent"');
    await waitFor(() => serve.accessLog.some((l) => l.includes('ingot-test')), 'the log line');
    const line = serve.accessLog.find((l) => l.includes('ingot-test'))!;
    assert.match(
      line,
      /^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET \/images\/talos\/talos-1\.9\.1-amd64\.raw HTTP\/1\.1" 206 10 "-" "ingot-test \\"agent\\""$/,
    );
  });
});

describe('ingot serve: TLS, plain HTTP on the network, graceful stop', { skip: !hasCurl && !requireTools ? 'curl not installed' : false }, () => {
  it('serves HTTPS with --tls-cert/--tls-key (curl trusts the throwaway CA)', async (tc) => {
    if (!needTool(tc, 'openssl')) return;
    const fx = await catalogueStore(t);
    const ca = testCa();
    const serve = await startServe([
      '--store',
      path.join(fx.dir, 'store'),
      '--tls-cert',
      path.join(ca.dir, 'server.pem'),
      '--tls-key',
      path.join(ca.dir, 'server.key'),
    ]);
    try {
      assert.match(serve.url, /^https:\/\/127\.0\.0\.1:\d+\/$/);
      const r = await curl(`${serve.url}index.json`, '--cacert', ca.caCertFile);
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body.toString()).schemaVersion, 1);
    } finally {
      await serve.stop();
    }
  });

  it('refuses plain HTTP on a network address without --allow-http', async () => {
    const r = await runCli(['serve', '--store', '/nonexistent', '--listen', '0.0.0.0:0']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /refusing plain HTTP on 0\.0\.0\.0/);
  });

  it('on SIGTERM finishes a transfer in flight, then exits 0', async () => {
    const fx = await catalogueStore(t);
    const big = bytesFor('big', 3 * 1024 * 1024);
    await fs.writeFile(path.join(fx.dir, 'store', 'images', 'big.raw'), big);
    const serve = await startServe(['--store', path.join(fx.dir, 'store')]);
    const out = path.join(fx.dir, 'big.out');
    // ~3 s at 1 MB/s: the stop arrives mid-transfer.
    const transfer = exec('curl', ['-sS', '--limit-rate', '1M', '-o', out, `${serve.url}images/big.raw`]);
    await waitFor(() => {
      try {
        return statSync(out).size > 256 * 1024;
      } catch {
        return false;
      }
    }, 'the transfer to start');
    const code = await serve.stop('SIGTERM');
    await transfer;
    assert.equal(code, 0, serve.stderr());
    assert.equal(sha(await fs.readFile(out)), sha(big), 'the whole file arrived');
    assert.match(serve.stderr(), /stopping: finishing transfers in flight/);
    // And it no longer accepts connections.
    await assert.rejects(exec('curl', ['-sS', '--max-time', '5', `${serve.url}index.json`]));
  });
});
