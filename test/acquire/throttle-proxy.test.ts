// The benchmarks' throttling proxy (bench/throttle-proxy.ts) forwards every byte in order through its
// buckets and latency, and its random drops are survived by the download client's resume (Range).
// Rates are never asserted here (wall clock belongs in bench/).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { mbit, startThrottleProxy, type ThrottleProxy } from '../../bench/throttle-proxy.js';
import { download, ONE_STREAM_RATE, RANGE_SEGMENT, type SplitEvent } from '../../src/acquire/http-client.js';
import { startHttpsServer, type TestServer } from '../helpers/https-server.js';

const body = randomBytes(3 << 20);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let server: TestServer;

async function fetchAll(proxy: ThrottleProxy): Promise<Buffer> {
  const got = await download(proxy.url('/a'), { ca: readFileSync(server.caCertFile), retryBaseMs: 10, retries: 20 });
  const chunks: Buffer[] = [];
  for await (const chunk of got.body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('throttling proxy (bench)', () => {
  before(async () => {
    server = await startHttpsServer({ '/a': { body } });
  });
  after(() => server.close());
  const target = () => ({ host: '127.0.0.1', port: Number(new URL(server.origin).port) });

  it('forwards TLS unchanged and in order through per-connection and total buckets with latency', async () => {
    const proxy = await startThrottleProxy({ target: target(), perConnectionRate: mbit(400), totalRate: mbit(800), latencyMs: 5 });
    try {
      assert.equal(sha(await fetchAll(proxy)), sha(body));
      assert.equal(proxy.stats.connections, 1);
    } finally {
      await proxy.close();
    }
  });

  it('a link holding each connection to 80 Mbit/s: a download not told how many connections splits after its first bytes', async () => {
    const large = randomBytes(2 * RANGE_SEGMENT + 4096);
    server.files.set('/large', { body: large });
    const proxy = await startThrottleProxy({ target: target(), perConnectionRate: mbit(80), latencyMs: 2 });
    try {
      const splits: SplitEvent[] = [];
      const got = await download(proxy.url('/large'), { ca: readFileSync(server.caCertFile), onSplit: (e) => splits.push(e) });
      const chunks: Buffer[] = [];
      for await (const chunk of got.body) chunks.push(chunk as Buffer);
      assert.equal(sha(Buffer.concat(chunks)), sha(large));
      assert.equal(splits.length, 1);
      assert.ok(splits[0]!.rate < ONE_STREAM_RATE, `measured ${splits[0]!.rate} B/s`);
      // The first answer to 8 MiB, then what is left shared out in 4 MiB ranges (8–12, 12–16, 16–end), each on its own connection.
      assert.equal(server.count('/large'), 4);
      assert.ok(proxy.stats.connections >= 4, `${proxy.stats.connections} connections`);
    } finally {
      await proxy.close();
    }
  });

  it('cuts connections (here after every MiB); the client resumes with Range and still gets every byte once', async () => {
    const proxy = await startThrottleProxy({ target: target(), latencyMs: 1, dropPerMiB: 1 });
    try {
      assert.equal(sha(await fetchAll(proxy)), sha(body));
      // Every MiB towards the client cuts its connection: 3 MiB cannot arrive without at least two resumes.
      assert.ok(proxy.stats.dropped >= 2, `dropped ${proxy.stats.dropped}`);
      assert.ok(proxy.stats.connections > proxy.stats.dropped - 1, 'each cut was followed by a new connection');
    } finally {
      await proxy.close();
    }
  });
});
