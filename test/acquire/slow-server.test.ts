/**
 * The slow-server table (issue 17): servers that trickle, never answer,
 * stall in the TLS handshake or stall after the headers. For each:
 *
 *  - with short limits, `sync` ends by itself with INGOT_HTTP_TIMEOUT and a
 *    message saying which wait ran out;
 *  - with limits far away (5 min), SIGTERM ends it within seconds, leaving no
 *    temporary file in the store and no decompressor process behind.
 *
 * The images are xz-compressed and decompressed with the native xz, so a
 * stall after the headers has a child process to clean up. Add a row to
 * SERVERS for a new hostile behaviour.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { compress, diskImage, sha256, tempDir, writeManifest } from '../helpers/fixtures.js';
import { childPids, running, runMeasured } from '../helpers/measure.js';
import { testCa } from '../helpers/tls.js';
import { needTool } from '../helpers/tools.js';

const raw = diskImage(4 * 1024 * 1024, 21);
let xzBody: Buffer | undefined;
const body = () => (xzBody ??= compress(raw, 'xz'));

interface Slow {
  url: string;
  /** Resolves when the server has got as far as it ever will (a connection, a request, the headers sent). */
  reached: Promise<void>;
  close(): Promise<void>;
}

interface SlowCase {
  name: string;
  start: () => Promise<Slow>;
  /** Short limits that make this case end quickly on its own. */
  flags: string[];
  /** What the error message must say. */
  message: RegExp;
  /** The body has started: ingot has a decompressor child and a temporary file. */
  midBody: boolean;
}

/** An HTTPS server whose request handler is `handle`; `reached` resolves when `handle` signals it. */
async function httpsServer(handle: (res: import('node:http').ServerResponse, reached: () => void) => void): Promise<Slow> {
  const ca = testCa();
  let signal!: () => void;
  const reached = new Promise<void>((resolve) => (signal = resolve));
  const sockets = new Set<Socket>();
  const server: HttpsServer = createHttpsServer({ key: ca.key, cert: ca.cert }, (_req, res) => handle(res, signal));
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as import('node:net').AddressInfo;
  return {
    url: `https://127.0.0.1:${port}/image.raw.xz`,
    reached,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const timers = new Set<NodeJS.Timeout>();

const SERVERS: SlowCase[] = [
  {
    name: 'trickle (5 bytes/s after the headers)',
    start: () =>
      httpsServer((res, reached) => {
        res.writeHead(200, { 'content-length': body().length });
        let at = 0;
        const tick = setInterval(() => {
          if (res.destroyed || at >= body().length) return clearInterval(tick);
          res.write(body().subarray(at, at + 1));
          if (++at === 16) reached();
        }, 200);
        timers.add(tick);
      }),
    flags: ['--min-speed', '1KiB', '--min-speed-time', '1s'],
    message: /download timed out after 2 attempts: transfer slower than 1\.0 KiB\/s for 1s/,
    midBody: true,
  },
  {
    name: 'no headers (request read, never answered)',
    start: () => httpsServer((_res, reached) => reached()),
    flags: ['--headers-timeout', '1s'],
    message: /download timed out after 2 attempts: no response headers within 1s/,
    midBody: false,
  },
  {
    name: 'stalled TLS handshake (TCP accepted, TLS never spoken)',
    start: async () => {
      let signal!: () => void;
      const reached = new Promise<void>((resolve) => (signal = resolve));
      const sockets = new Set<Socket>();
      const server: NetServer = createNetServer((s) => {
        sockets.add(s);
        s.on('error', () => undefined);
        signal();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const { port } = server.address() as import('node:net').AddressInfo;
      return {
        url: `https://127.0.0.1:${port}/image.raw.xz`,
        reached,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      };
    },
    flags: ['--connect-timeout', '1s'],
    message: /download timed out after 2 attempts: could not connect \(TCP and TLS\) within 1s/,
    midBody: false,
  },
  {
    name: 'stall after the headers and 64 KiB',
    start: () =>
      httpsServer((res, reached) => {
        res.writeHead(200, { 'content-length': body().length });
        res.write(body().subarray(0, 65536), () => reached());
      }),
    flags: ['--idle-timeout', '1s'],
    message: /download timed out after 2 attempts: the server sent nothing for 1s/,
    midBody: true,
  },
];

/** Limits far beyond the test's patience: only the signal can end these runs soon. */
const FAR = ['--connect-timeout', '5m', '--headers-timeout', '5m', '--idle-timeout', '5m', '--min-speed-time', '5m', '--retries', '0'];

function project(url: string): string {
  const dir = tempDir();
  writeManifest(dir, [
    {
      name: 'slow',
      source: { type: 'https', url, checksum: sha256(body()), decompress: 'xz' },
      destination: { path: 'slow/image.raw' },
      validation: { expected: sha256(raw) },
    },
  ]);
  return dir;
}

function temporaries(dir: string): string[] {
  const store = join(dir, '.ingot', 'store');
  return existsSync(store)
    ? readdirSync(store, { recursive: true })
        .map(String)
        .filter((f) => f.includes('.ingot-tmp-'))
    : [];
}

/** Runs sync; fails the test (killing the child) if it has not ended after `limitMs`. */
async function syncWithin(dir: string, args: string[], limitMs: number, onSpawn?: (child: ChildProcess) => void) {
  let child: ChildProcess | undefined;
  const guard = setTimeout(() => child?.kill('SIGKILL'), limitMs);
  try {
    return await runMeasured(['sync', '--json', '--decompressor', 'native', ...args], {
      cwd: dir,
      env: { NODE_EXTRA_CA_CERTS: testCa().caCertFile },
      onSpawn: (c) => {
        child = c;
        onSpawn?.(c);
      },
    });
  } finally {
    clearTimeout(guard);
  }
}

describe('slow and stalling servers', () => {
  for (const server of SERVERS) {
    it(`${server.name}: ends by itself with INGOT_HTTP_TIMEOUT`, async (t) => {
      if (!needTool(t, 'xz', 'xz-utils')) return;
      const slow = await server.start();
      try {
        const dir = project(slow.url);
        const r = await syncWithin(dir, [...server.flags, '--retries', '1'], 60_000);
        assert.equal(r.signal, null, `killed by the test after 60 s: the run did not end by itself\n${r.stderr}`);
        assert.equal(r.code, 1, r.stderr);
        const outcome = JSON.parse(r.stdout).images[0];
        assert.equal(outcome.error.code, 'INGOT_HTTP_TIMEOUT', r.stdout);
        assert.match(outcome.error.message, server.message);
        assert.deepEqual(temporaries(dir), []);
      } finally {
        await slow.close();
      }
    });

    it(`${server.name}: SIGTERM ends the run within seconds, store and process table clean`, async (t) => {
      if (!needTool(t, 'xz', 'xz-utils')) return;
      const slow = await server.start();
      try {
        const dir = project(slow.url);
        let signalledAt = 0;
        let children: number[] = [];
        const r = await syncWithin(dir, FAR, 120_000, (child) => {
          void (async () => {
            await slow.reached;
            if (server.midBody) {
              // Wait for the decompressor child and the temporary file to exist.
              const deadline = Date.now() + 30_000;
              while ((childPids(child.pid!).length === 0 || temporaries(dir).length === 0) && Date.now() < deadline) await sleep(20);
            }
            children = childPids(child.pid!);
            signalledAt = Date.now();
            child.kill('SIGTERM');
          })();
        });
        const afterSignalMs = Date.now() - signalledAt;
        assert.ok(signalledAt > 0, 'the signal was sent');
        assert.equal(r.signal, null, `the run had to be killed\n${r.stderr}`);
        // The limits are 5 minutes away: only a prompt reaction to the signal ends the run this soon.
        assert.ok(afterSignalMs < 15_000, `exited ${afterSignalMs} ms after SIGTERM`);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stdout + r.stderr, /INGOT_ABORTED|interrupted by SIGTERM/);
        assert.deepEqual(temporaries(dir), [], 'no temporary file left in the store');
        if (server.midBody) assert.ok(children.length > 0, 'a decompressor child was running');
        await sleep(200);
        assert.deepEqual(children.filter(running), [], 'no child of ingot outlives it');
      } finally {
        await slow.close();
      }
    });
  }

  it('refuses zero and negative timeouts with exit 2 before any work', async () => {
    const dir = project('https://127.0.0.1:1/never-contacted');
    for (const flags of [
      ['--idle-timeout', '0s'],
      ['--connect-timeout', '0'],
      ['--headers-timeout', '0ms'],
      ['--min-speed-time=-5s'],
      ['--idle-timeout', '999999d'],
      ['--min-speed', '0'],
      ['--min-speed', 'fast'],
      ['--connections', '0'],
      ['--connections', '17'],
    ]) {
      const r = await runMeasured(['sync', ...flags], { cwd: dir });
      assert.equal(r.code, 2, `${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`${flags[0]!.split('=')[0]} must be`), flags.join(' '));
      assert.match(r.stderr, /INGOT_USAGE/);
    }
  });

  after(() => {
    for (const t of timers) clearInterval(t);
  });
});
