import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  download,
  head,
  httpLimits,
  parseContentRange,
  parseRetryAfter,
  PROBE_BYTES,
  RANGE_SEGMENT,
  SpeedGuard,
  type HttpOptions,
  type RetryEvent,
  type SplitEvent,
} from '../../src/acquire/http-client.js';
import type { IngotError } from '../../src/errors.js';
import { diskImage, sha256 } from '../helpers/fixtures.js';
import { startHttpServer, startHttpsServer, type TestServer } from '../helpers/https-server.js';

const body = diskImage(3 * 1024 * 1024 + 123, 7);
const digest = sha256(body);
let server: TestServer;
const retries: RetryEvent[] = [];
const options = (): HttpOptions => ({ ca: server.caCert, retryBaseMs: 5, retryMaxMs: 50, onRetry: (e) => retries.push(e) });

async function fetchAll(path: string, extra: HttpOptions = {}): Promise<Buffer> {
  const result = await download(server.url(path), { ...options(), ...extra });
  const chunks: Buffer[] = [];
  for await (const chunk of result.body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('https downloads', () => {
  before(async () => {
    server = await startHttpsServer();
  });
  after(() => server.close());

  it('downloads a file whole', async () => {
    server.files.set('/plain', { body });
    const got = await fetchAll('/plain');
    assert.equal(sha256(got), digest);
    assert.equal(server.count('/plain'), 1);
  });

  it('resumes with Range after a connection cut mid-body', async () => {
    server.files.set('/cut', { body, faults: [{ kind: 'cut', afterBytes: 1_000_000 }] });
    retries.length = 0;
    const got = await fetchAll('/cut');
    assert.equal(sha256(got), digest, 'digest of the resumed download');
    const ranged = server.requests.filter((r) => r.path === '/cut' && r.range);
    assert.equal(ranged.length, 1, 'one ranged request');
    const start = Number(/bytes=(\d+)-/.exec(ranged[0]!.range!)![1]);
    assert.ok(start > 0 && start <= 1_000_000, `resumed from ${start}`);
    assert.equal(retries.length, 1);
  });

  it('retries a 503 then succeeds', async () => {
    server.files.set('/busy', {
      body,
      faults: [
        { kind: 'status', status: 503 },
        { kind: 'status', status: 500 },
      ],
    });
    const got = await fetchAll('/busy');
    assert.equal(sha256(got), digest);
    assert.equal(server.count('/busy'), 3);
  });

  it('honours Retry-After on 429', async () => {
    server.files.set('/slow', { body, faults: [{ kind: 'status', status: 429, retryAfter: '1' }] });
    retries.length = 0;
    const got = await fetchAll('/slow', { retryMaxMs: 5000 });
    assert.equal(sha256(got), digest);
    assert.equal(retries[0]?.delayMs, 1000, 'waited as told by Retry-After');
  });

  it('caps Retry-After at retryMaxMs', async () => {
    server.files.set('/slower', { body, faults: [{ kind: 'status', status: 503, retryAfter: '3600' }] });
    retries.length = 0;
    await fetchAll('/slower', { retryMaxMs: 20 });
    assert.equal(retries[0]?.delayMs, 20);
  });

  it('starts over cleanly when the server ignores Range', async () => {
    server.files.set('/norange', { body, ranges: false, faults: [{ kind: 'cut', afterBytes: 700_000 }] });
    const got = await fetchAll('/norange');
    assert.equal(got.length, body.length, 'no duplicated bytes');
    assert.equal(sha256(got), digest);
  });

  it('falls back to a full request on a mismatched Content-Range', async () => {
    server.files.set('/badrange', { body, faults: [{ kind: 'cut', afterBytes: 500_000 }, { kind: 'bad-range' }] });
    const got = await fetchAll('/badrange');
    assert.equal(sha256(got), digest);
    const last = server.requests.filter((r) => r.path === '/badrange').at(-1);
    assert.equal(last?.range, undefined, 'the last attempt asked for the whole body');
  });

  it('resumes a body shorter than its Content-Length', async () => {
    server.files.set('/short', { body, faults: [{ kind: 'short', bytes: 2_000_000 }] });
    const got = await fetchAll('/short');
    assert.equal(sha256(got), digest);
    assert.ok(server.requests.some((r) => r.path === '/short' && r.range === 'bytes=2000000-'));
  });

  it('gives up after the retry budget with the attempts counted', async () => {
    server.files.set('/down', { body, faults: Array.from({ length: 10 }, () => ({ kind: 'status' as const, status: 502 })) });
    await assert.rejects(fetchAll('/down', { retries: 2 }), (error: IngotError) => {
      assert.equal(error.code, 'INGOT_HTTP_STATUS');
      assert.match(error.message, /HTTP 502 .* after 3 attempts/);
      return true;
    });
  });

  it('does not retry a 404, and says what to do', async () => {
    await assert.rejects(fetchAll('/missing'), (error: IngotError) => {
      assert.equal(error.code, 'INGOT_HTTP_STATUS');
      assert.match(error.hint ?? '', /check the URL/);
      return true;
    });
    assert.equal(server.count('/missing'), 1);
  });

  it('follows https redirects but refuses a redirect to http', async () => {
    server.files.set('/moved', { body, faults: [{ kind: 'redirect', location: '/plain' }] });
    assert.equal(sha256(await fetchAll('/moved')), digest);
    const plain = await startHttpServer({ '/x': { body } });
    try {
      server.files.set('/downgrade', { body, faults: [{ kind: 'redirect', location: plain.url('/x') }] });
      await assert.rejects(fetchAll('/downgrade'), (error: IngotError) => {
        assert.equal(error.code, 'INGOT_HTTP_INSECURE');
        assert.match(error.message, /refusing a redirect from https to http/);
        return true;
      });
      assert.equal(plain.requests.length, 0, 'the http server was never contacted');
    } finally {
      await plain.close();
    }
  });

  it('refuses an untrusted certificate with a hint about NODE_EXTRA_CA_CERTS', async () => {
    await assert.rejects(download(server.url('/plain'), { retries: 0 }), (error: IngotError) => {
      assert.equal(error.code, 'INGOT_HTTP_NETWORK');
      assert.match(error.hint ?? '', /NODE_EXTRA_CA_CERTS/);
      return true;
    });
  });

  it('fails on a server stalled in the TLS handshake after the connect timeout (INGOT_HTTP_TIMEOUT)', async () => {
    const net = await import('node:net');
    const silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      await assert.rejects(
        download(`https://127.0.0.1:${port}/x`, { ...options(), connectTimeoutMs: 200, idleTimeoutMs: 200, retries: 1 }),
        (error: IngotError) => {
          assert.equal(error.code, 'INGOT_HTTP_TIMEOUT');
          assert.match(error.message, /could not connect \(TCP and TLS\) within 0\.2s/);
          return true;
        },
      );
    } finally {
      silent.close();
    }
  });

  it('fails a trickling server with INGOT_HTTP_TIMEOUT, retries without resetting the budget', async () => {
    server.files.set('/trickle', { body: body.subarray(0, 200_000), slowMs: 400 });
    // 64 KiB every 400 ms is ~160 KiB/s: under a 1 MiB/s minimum.
    const started = Date.now();
    await assert.rejects(fetchAll('/trickle', { minSpeed: 1024 * 1024, minSpeedTimeMs: 300, retries: 2 }), (error: IngotError) => {
      assert.equal(error.code, 'INGOT_HTTP_TIMEOUT');
      assert.match(error.message, /after 3 attempts: transfer slower than 1024\.0 KiB\/s for 0\.3s/);
      return true;
    });
    assert.equal(server.count('/trickle'), 3, 'three attempts, though each brought bytes');
    assert.ok(Date.now() - started < 60_000);
  });

  it('HEAD reports status and Content-Length', async () => {
    const r = await head(server.url('/plain'), options());
    assert.equal(r.status, 200);
    assert.equal(r.size, body.length);
  });
});

// A hang here (a worker waiting for a reader that is gone) must fail within a minute, not at the file's timeout.
describe('parallel ranged downloads (connections)', { timeout: 60_000 }, () => {
  const SEG = RANGE_SEGMENT;
  // Four and a bit segments: the first answer serves segment one, four ranged GETs the rest.
  const big = randomBytes(4 * SEG + 12345);
  const bigDigest = sha256(big);
  const ranges = (path: string) =>
    server.requests
      .filter((r) => r.path === path && r.range)
      .map((r) => r.range!)
      .sort((a, b) => Number(/\d+/.exec(a)![0]) - Number(/\d+/.exec(b)![0]));
  before(async () => {
    server = await startHttpsServer();
  });
  after(() => server.close());

  it('splits a large file into ranged GETs over several connections, every byte once and in order', async () => {
    server.files.set('/big', { body: big });
    const got = await fetchAll('/big', { connections: 3 });
    assert.equal(sha256(got), bigDigest);
    assert.equal(server.count('/big'), 5, 'the first GET and one per later segment');
    assert.deepEqual(ranges('/big'), [
      `bytes=${SEG}-${2 * SEG - 1}`,
      `bytes=${2 * SEG}-${3 * SEG - 1}`,
      `bytes=${3 * SEG}-${4 * SEG - 1}`,
      `bytes=${4 * SEG}-${4 * SEG + 12344}`,
    ]);
  });

  it('resumes a cut range from where it stopped, within that range', async () => {
    server.files.set('/cut-range', { body: big, faults: [{ kind: 'cut', afterBytes: 1_000_000, rangeFrom: 2 * SEG }] });
    retries.length = 0;
    const got = await fetchAll('/cut-range', { connections: 4 });
    assert.equal(sha256(got), bigDigest);
    const resumed = ranges('/cut-range').filter(
      (r) => !r.startsWith(`bytes=${2 * SEG}-`) && Number(/\d+/.exec(r)![0]) > 2 * SEG && Number(/\d+/.exec(r)![0]) < 3 * SEG,
    );
    assert.equal(resumed.length, 1, `one resumed range in ${ranges('/cut-range').join(', ')}`);
    assert.match(resumed[0]!, new RegExp(`-${3 * SEG - 1}$`), 'the resume asks only for the rest of its range');
    assert.equal(retries.length, 1);
  });

  it('a server that answers a range with the whole file: that part is skipped to and cut, bytes still right', async () => {
    server.files.set('/ignore', { body: big, faults: [{ kind: 'ignore-range', rangeFrom: 3 * SEG }] });
    const got = await fetchAll('/ignore', { connections: 2 });
    assert.equal(sha256(got), bigDigest);
  });

  it('one stream when told (connections 1), when the server takes no ranges, or for a file under two segments', async () => {
    server.files.set('/one', { body: big });
    assert.equal(sha256(await fetchAll('/one', { connections: 1 })), bigDigest);
    assert.equal(server.count('/one'), 1);
    server.files.set('/noranges', { body: big, ranges: false });
    assert.equal(sha256(await fetchAll('/noranges', { connections: 4 })), bigDigest);
    assert.equal(server.count('/noranges'), 1);
    const small = big.subarray(0, 2 * SEG - 1);
    server.files.set('/small', { body: small });
    assert.equal(sha256(await fetchAll('/small', { connections: 4 })), sha256(small));
    assert.equal(server.count('/small'), 1);
  });

  it('not told how many: a first stream at least oneStreamRate fast stays one stream', async () => {
    server.files.set('/fast', { body: big });
    const splits: SplitEvent[] = [];
    const got = await fetchAll('/fast', { oneStreamRate: 1, onSplit: (e) => splits.push(e) });
    assert.equal(sha256(got), bigDigest);
    assert.equal(server.count('/fast'), 1, 'one GET, no ranges');
    assert.deepEqual(splits, []);
  });

  it('not told how many: a first stream slower than oneStreamRate is split after its first bytes, over the default 4 connections', async () => {
    server.files.set('/slow', { body: big });
    const splits: SplitEvent[] = [];
    const got = await fetchAll('/slow', { oneStreamRate: Number.POSITIVE_INFINITY, onSplit: (e) => splits.push(e) });
    assert.equal(sha256(got), bigDigest);
    // The same ranges as a split from the start: the first answer still serves the whole first segment.
    assert.equal(server.count('/slow'), 5);
    assert.deepEqual(ranges('/slow'), [
      `bytes=${SEG}-${2 * SEG - 1}`,
      `bytes=${2 * SEG}-${3 * SEG - 1}`,
      `bytes=${3 * SEG}-${4 * SEG - 1}`,
      `bytes=${4 * SEG}-${4 * SEG + 12344}`,
    ]);
    assert.equal(splits.length, 1);
    assert.equal(splits[0]!.connections, 4);
    assert.equal(splits[0]!.url, server.url('/slow'));
    assert.ok(splits[0]!.rate > 0 && Number.isFinite(splits[0]!.rate), `rate ${splits[0]!.rate}`);
  });

  it('a slow 20 MiB file is shared out after the probe: the first answer to 8 MiB, three 4 MiB ranges', async () => {
    const MiB = 1 << 20;
    const file = big.subarray(0, 20 * MiB);
    server.files.set('/twenty', { body: file });
    const got = await fetchAll('/twenty', { oneStreamRate: Number.POSITIVE_INFINITY });
    assert.equal(sha256(got), sha256(file));
    assert.deepEqual(ranges('/twenty'), [`bytes=${8 * MiB}-${12 * MiB - 1}`, `bytes=${12 * MiB}-${16 * MiB - 1}`, `bytes=${16 * MiB}-${20 * MiB - 1}`]);
  });

  it('a reader that stops while the first stream is being measured closes its connection', async () => {
    server.files.set('/stopped', { body: big });
    const result = await download(server.url('/stopped'), { ...options(), oneStreamRate: 1 });
    let read = 0;
    for await (const chunk of result.body) {
      read += (chunk as Buffer).length;
      break;
    }
    assert.ok(read > 0 && read < PROBE_BYTES, `read ${read}`);
    const deadline = Date.now() + 5_000;
    while (server.openSockets() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.openSockets(), 0, 'no connection left open');
  });

  it('a range that keeps failing fails the download with that error; the reader stops', async () => {
    server.files.set('/gone', {
      body: big,
      faults: Array.from({ length: 4 }, () => ({ kind: 'status' as const, status: 404, rangeFrom: 2 * SEG })),
    });
    await assert.rejects(fetchAll('/gone', { connections: 2 }), (e: IngotError) => e.code === 'INGOT_HTTP_STATUS' && /HTTP 404/.test(e.message));
  });

  it('a range failing while the first answer is still coming: the error surfaces, no worker is left waiting', async () => {
    // The first answer's body waits, so the failure lands before the reader reaches the ranges and a
    // worker started after it finds the window full: once stopped it must not wait again.
    server.files.set('/gone-early', {
      body: big,
      faults: [
        { kind: 'pause', ms: 800 },
        { kind: 'status', status: 404, rangeFrom: 2 * SEG },
      ],
    });
    await assert.rejects(fetchAll('/gone-early', { connections: 2 }), (e: IngotError) => e.code === 'INGOT_HTTP_STATUS' && /HTTP 404/.test(e.message));
  });
});

describe('minimum speed', () => {
  /** A guard on a fake clock: `at(ms)` moves time to `ms` and runs a check. */
  function guard(minSpeed: number, windowMs: number) {
    let now = 0;
    const slow: number[] = [];
    const g = new SpeedGuard(
      minSpeed,
      windowMs,
      (rate) => slow.push(rate),
      () => now,
      false,
    );
    return { g, slow, at: (ms: number) => ((now = ms), g.check()) };
  }

  it('trips once a whole window of waiting brings less than the minimum', () => {
    const { g, slow, at } = guard(1024, 10_000);
    for (let t = 1000; t <= 9000; t += 1000) {
      g.add(5); // a trickle: 5 bytes a second
      g.waiting();
      at(t);
    }
    assert.deepEqual(slow, [], 'not before a full window');
    g.add(5);
    g.waiting();
    at(10_000);
    assert.equal(slow.length, 1);
    assert.ok(Math.abs(slow[0]! - 5) < 0.01, `measured ${slow[0]} B/s`);
  });

  it('does not trip on a fast server, nor while ingot itself is busy (backpressure)', () => {
    const { g, slow, at } = guard(1024, 10_000);
    // Fast: 64 KiB every second.
    for (let t = 1000; t <= 20_000; t += 1000) {
      g.add(65536);
      g.waiting();
      at(t);
    }
    // The consumer stops asking for 5 minutes (an S3 part upload): the clock against the server stops.
    g.add(65536);
    for (let t = 21_000; t <= 320_000; t += 1000) at(t);
    assert.deepEqual(slow, []);
    // Then it asks again, and the server is silent: that counts.
    g.waiting();
    at(331_000);
    assert.equal(slow.length, 1);
    assert.equal(slow[0], 0);
  });

  it('refuses zero, negative and endless limits', () => {
    for (const bad of [
      { idleTimeoutMs: 0 },
      { connectTimeoutMs: -1 },
      { headersTimeoutMs: Infinity },
      { minSpeed: 0 },
      { minSpeedTimeMs: Number.NaN },
      { retries: -1 },
      { idleTimeoutMs: 2 ** 31 },
    ]) {
      assert.throws(
        () => httpLimits(bad),
        (e: IngotError) => e.code === 'INGOT_USAGE' && e.exitCode === 2,
        JSON.stringify(bad),
      );
    }
    assert.equal(httpLimits({ retries: 0 }).retries, 0);
    assert.equal(httpLimits({}).headersTimeoutMs, 30_000);
  });
});

describe('header parsing', () => {
  it('parses Content-Range', () => {
    assert.deepEqual(parseContentRange('bytes 10-19/100'), { start: 10, end: 19, total: 100 });
    assert.deepEqual(parseContentRange('bytes 0-0/*'), { start: 0, end: 0, total: undefined });
    assert.equal(parseContentRange('bytes 20-10/100'), undefined);
    assert.equal(parseContentRange('bytes 0-100/100'), undefined);
    assert.equal(parseContentRange('items 0-1/2'), undefined);
  });
  it('parses Retry-After as seconds or a date', () => {
    assert.equal(parseRetryAfter('7'), 7000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4000), 6000);
    assert.equal(parseRetryAfter('soon'), undefined);
  });
});
