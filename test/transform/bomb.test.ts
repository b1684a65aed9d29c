/**
 * The bomb table (issue 17): every decompressor on every path that
 * decompresses hostile bytes — a file source, an https source, `inspect` —
 * fed 1 GiB of zeros squeezed into a few hundred KiB, with a 10 MiB cap. Each
 * case runs the built CLI in a child process and asserts it fails with the
 * cap's code while its peak memory stays under a bound (the builtin zstd
 * decoder used to reach 1+ GiB here, and 8 GB in the field).
 *
 * Add a row to BOMBS for a new format or a new kind of bomb, to PATHS for a
 * new place that decompresses.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sha256, tempDir, writeManifest } from '../helpers/fixtures.js';
import { startHttpsServer, type TestServer } from '../helpers/https-server.js';
import { runMeasured } from '../helpers/measure.js';
import { needTool } from '../helpers/tools.js';

/** Peak RSS allowed for the ingot process, MiB. Node itself takes ~60–90 MiB; zstd's largest legal window is 128 MiB. */
const BOUND_MIB = 320;
const CAP = '10MiB';
const ZEROS_64M = Buffer.alloc(64 * 1024 * 1024);

interface Bomb {
  name: string;
  format: 'xz' | 'gzip' | 'zstd';
  /** The tool that makes it (needTool). */
  tool: string;
  pkg: string;
  /** Builds the compressed bytes. */
  make: () => Buffer;
  /** The code the run must fail with. */
  code: string;
  /** … where `inspect` names it differently (corrupt input is INGOT_CPIO_INVALID there). */
  inspectCode?: string;
}

/** 64 MiB of zeros compressed once, repeated: concatenated members/streams/frames decode as 1 GiB. */
const repeated = (args: string[], tool: string) => () => {
  const one = execFileSync(tool, args, { input: ZEROS_64M, maxBuffer: 1 << 30 });
  return Buffer.concat(Array.from({ length: 16 }, () => one));
};

/** zstd output whose frame header claims a 2 GiB window (fzstd would allocate it; libzstd refuses over 128 MiB). */
const hugeWindow = () => {
  const frame = execFileSync('zstd', ['-c', '-q'], { input: Buffer.alloc(1 << 20), maxBuffer: 1 << 30 });
  assert.equal(frame[4]! & 0x20, 0, 'not a single-segment frame');
  frame[5] = 21 << 3; // window descriptor: 2^(10+21) = 2 GiB
  return frame;
};

const BOMBS: Bomb[] = [
  { name: 'gzip 1 GiB of zeros', format: 'gzip', tool: 'gzip', pkg: 'gzip', make: repeated(['-c', '-n'], 'gzip'), code: 'INGOT_DECOMPRESS_LIMIT' },
  { name: 'xz 1 GiB of zeros', format: 'xz', tool: 'xz', pkg: 'xz-utils', make: repeated(['-c', '-T1'], 'xz'), code: 'INGOT_DECOMPRESS_LIMIT' },
  { name: 'zstd 1 GiB of zeros', format: 'zstd', tool: 'zstd', pkg: 'zstd', make: repeated(['-c', '-q'], 'zstd'), code: 'INGOT_DECOMPRESS_LIMIT' },
  {
    name: 'zstd 1 GiB of zeros, 128 MiB window',
    format: 'zstd',
    tool: 'zstd',
    pkg: 'zstd',
    make: repeated(['-c', '-q', '--long=27'], 'zstd'),
    code: 'INGOT_DECOMPRESS_LIMIT',
  },
  {
    name: 'zstd frame claiming a 2 GiB window',
    format: 'zstd',
    tool: 'zstd',
    pkg: 'zstd',
    make: hugeWindow,
    code: 'INGOT_DECOMPRESS_FAILED',
    inspectCode: 'INGOT_CPIO_INVALID',
  },
];

const DECOMPRESSORS = ['native', 'builtin'] as const;

interface PathCase {
  name: string;
  /** Runs ingot on the bomb file; returns the error code it reported, and the store to check (if any). */
  run: (
    bomb: Bomb,
    file: string,
    decompressor: string,
  ) => Promise<{ code: number | null; errorCode: string | undefined; maxRssMiB: number | undefined; store?: string; output: string }>;
}

let server: TestServer;
const served = new Map<string, string>();

function syncCase(dir: string, source: Record<string, unknown>, decompressor: string) {
  writeManifest(dir, [
    {
      name: 'bomb',
      source,
      destination: { path: 'bomb.raw' },
      validation: { expected: sha256('whatever it would have been') },
    },
  ]);
  return runMeasured(['sync', '--json', '--decompressor', decompressor, '--max-decompressed-size', CAP, '--retries', '0'], {
    cwd: dir,
    env: { NODE_EXTRA_CA_CERTS: server.caCertFile },
  }).then((r) => {
    const json = JSON.parse(r.stdout || '{}') as { images?: { error?: { code: string } }[] };
    return { code: r.code, errorCode: json.images?.[0]?.error?.code, maxRssMiB: r.maxRssMiB, store: join(dir, '.ingot', 'store'), output: r.stdout + r.stderr };
  });
}

const PATHS: PathCase[] = [
  {
    name: 'file source (sync)',
    run: (bomb, file, decompressor) => {
      const dir = tempDir();
      writeFileSync(join(dir, 'bomb.bin'), readBytes(file));
      return syncCase(dir, { type: 'file', path: 'bomb.bin', checksum: sha256(readBytes(file)), decompress: bomb.format }, decompressor);
    },
  },
  {
    name: 'https source (sync)',
    run: (bomb, file, decompressor) => {
      const urlPath = `/${encodeURIComponent(bomb.name)}`;
      served.set(urlPath, file);
      server.files.set(urlPath, { file });
      return syncCase(tempDir(), { type: 'https', url: server.url(urlPath), checksum: sha256(readBytes(file)), decompress: bomb.format }, decompressor);
    },
  },
  {
    name: 'inspect',
    run: async (_bomb, file, decompressor) => {
      const r = await runMeasured(['inspect', file, '--json', '--decompressor', decompressor, '--max-decompressed-size', CAP]);
      const json = JSON.parse(r.stdout || '{}') as { error?: { code: string } };
      return { code: r.code, errorCode: json.error?.code, maxRssMiB: r.maxRssMiB, output: r.stdout + r.stderr };
    },
  },
];

const bytesCache = new Map<string, Buffer>();
function readBytes(file: string): Buffer {
  return bytesCache.get(file)!;
}

describe('decompression bombs: memory stays bounded on every path, with every decompressor', () => {
  const files = new Map<string, string>();
  const dir = tempDir('ingot-bombs-');
  before(async () => {
    server = await startHttpsServer();
  });
  after(() => server.close());

  for (const bomb of BOMBS) {
    for (const decompressor of DECOMPRESSORS) {
      for (const path of PATHS) {
        it(`${bomb.name} × ${decompressor} × ${path.name}`, async (t) => {
          if (!needTool(t, bomb.tool, bomb.pkg)) return;
          let file = files.get(bomb.name);
          if (!file) {
            file = join(dir, `${files.size}.${bomb.format}`);
            const bytes = bomb.make();
            writeFileSync(file, bytes);
            bytesCache.set(file, bytes);
            files.set(bomb.name, file);
          }
          const r = await path.run(bomb, file, decompressor);
          assert.equal(r.code, 1, r.output);
          assert.equal(r.errorCode, path.name === 'inspect' ? (bomb.inspectCode ?? bomb.code) : bomb.code, r.output);
          assert.ok(r.maxRssMiB !== undefined, 'the child reported its peak memory');
          assert.ok(r.maxRssMiB < BOUND_MIB, `peak RSS ${r.maxRssMiB.toFixed(0)} MiB, bound ${BOUND_MIB} MiB`);
          t.diagnostic(`peak RSS ${r.maxRssMiB.toFixed(0)} MiB`);
          if (r.store) {
            const leftovers = readdirSync(r.store, { recursive: true })
              .map(String)
              .filter((f) => f.includes('.ingot-tmp-') || f.endsWith('bomb.raw') || f.endsWith('bomb.raw.json'));
            assert.deepEqual(leftovers, [], 'nothing published, no temporary file left');
          }
        });
      }
    }
  }
});
