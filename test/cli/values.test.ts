// Issue 17 (8): sizes, durations and store URLs are checked against sane bounds before any work:
// exit 2 with a clear message (file:line:col for the manifest), nothing published, never INGOT_INTERNAL.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { runCli, sha256, tempDir, writeManifest } from '../helpers/fixtures.js';

const NINES = '9'.repeat(400);
let dir: string;
let keyFile: string;

function manifest(extra: Record<string, unknown> = {}, source: Record<string, unknown> = {}): void {
  const bytes = Buffer.from('payload\n');
  writeFileSync(join(dir, 'x.bin'), bytes);
  writeManifest(dir, [{ name: 'x', source: { type: 'file', path: 'x.bin', checksum: sha256(bytes), ...source }, destination: { path: 'x.bin' } }], extra);
}

/** Nothing was published: no image, no metadata, no index. */
function storeUntouched(store: string): void {
  if (!existsSync(store)) return;
  const files = readdirSync(store, { recursive: true })
    .map(String)
    .filter((f) => !f.startsWith('.ingot'));
  assert.deepEqual(files, [], `store has ${files.join(', ')}`);
}

interface FlagRow {
  name: string;
  args: () => string[];
  message: RegExp;
}

const flagRows: FlagRow[] = [
  {
    name: 'sync --index-expires 99999999d',
    args: () => ['sync', '--signing-key', keyFile, '--index-expires', '99999999d'],
    message: /--index-expires must be at most 366d/,
  },
  {
    name: 'sync --index-expires forever',
    args: () => ['sync', '--signing-key', keyFile, '--index-expires', 'forever'],
    message: /--index-expires expected a duration/,
  },
  {
    name: 'sync --index-expires 0s',
    args: () => ['sync', '--signing-key', keyFile, '--index-expires', '0s'],
    message: /--index-expires must be longer than 0/,
  },
  { name: 'sync --dry-run --index-expires 99999999d', args: () => ['sync', '--dry-run', '--index-expires', '99999999d'], message: /--index-expires/ },
  { name: 'sync --max-decompressed-size of 400 nines', args: () => ['sync', '--max-decompressed-size', NINES], message: /larger than 1PiB/ },
  { name: 'sync --max-decompressed-size 999999999999TiB', args: () => ['sync', '--max-decompressed-size', '999999999999TiB'], message: /larger than 1PiB/ },
  {
    name: 'sign --expires 99999999d',
    args: () => ['sign', '--store', join(dir, '.ingot', 'store'), '--signing-key', keyFile, '--expires', '99999999d'],
    message: /--expires must be at most 366d/,
  },
  {
    name: 'sign --expires forever',
    args: () => ['sign', '--store', join(dir, '.ingot', 'store'), '--signing-key', keyFile, '--expires', 'forever'],
    message: /--expires expected a duration/,
  },
  {
    name: 'channel set --expires 400d',
    args: () => ['channel', 'set', 'os', 'stable', '1', '--store', join(dir, '.ingot', 'store'), '--signing-key', keyFile, '--expires', '400d'],
    message: /--expires must be at most 366d/,
  },
  { name: 'list --store s3://bucket/../x', args: () => ['list', '--store', 's3://bucket/../x?endpoint=https://s3.example.org'], message: /"\.\." segments/ },
  {
    name: 'list --store s3://bucket/%2e%2e/x',
    args: () => ['list', '--store', 's3://bucket/%2e%2e/x?endpoint=https://s3.example.org'],
    message: /"\.\." segments/,
  },
];

interface ManifestRow {
  name: string;
  extra?: Record<string, unknown>;
  source?: Record<string, unknown>;
  problem: string;
  /** The value whose line the problem must point at. */
  value: string;
}

const manifestRows: ManifestRow[] = [
  { name: 'defaults.maxDecompressedSize of 400 nines', extra: { defaults: { maxDecompressedSize: NINES } }, problem: 'size-out-of-range', value: NINES },
  {
    name: 'defaults.maxDecompressedSize 999999999999TiB',
    extra: { defaults: { maxDecompressedSize: '999999999999TiB' } },
    problem: 'size-out-of-range',
    value: '999999999999TiB',
  },
  { name: 'source.maxDecompressedSize 2048TiB', source: { maxDecompressedSize: '2048TiB' }, problem: 'size-out-of-range', value: '2048TiB' },
  { name: 'signing.expires: forever', extra: { signing: { expires: 'forever' } }, problem: 'duration-malformed', value: 'forever' },
  { name: 'signing.expires: 99999999d', extra: { signing: { expires: '99999999d' } }, problem: 'duration-malformed', value: '99999999d' },
  { name: 'signing.expires: 0s', extra: { signing: { expires: '0s' } }, problem: 'duration-malformed', value: '0s' },
];

describe('values with bounds', () => {
  before(async () => {
    dir = tempDir('ingot-values-');
    const keys = join(dir, 'keys');
    assert.equal((await runCli(['keys', 'generate', '--unencrypted', '--out', keys])).code, 0);
    keyFile = join(keys, 'ingot.key');
  });

  for (const row of flagRows) {
    it(`${row.name}: exit 2 before any work`, async () => {
      manifest();
      const r = await runCli(row.args(), { cwd: dir });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, row.message);
      assert.doesNotMatch(r.stderr, /INGOT_INTERNAL|Invalid time value/);
      storeUntouched(join(dir, '.ingot', 'store'));
    });
  }

  for (const row of manifestRows) {
    it(`${row.name}: validate reports ${row.problem} at file:line:col; sync publishes nothing`, async () => {
      manifest(row.extra, row.source);
      const v = await runCli(['validate', '--json'], { cwd: dir });
      assert.equal(v.code, 2, v.stdout + v.stderr);
      const problems = JSON.parse(v.stdout).problems as { code: string; line: number }[];
      const found = problems.find((p) => p.code === row.problem);
      assert.ok(found, JSON.stringify(problems));
      const text = (await import('node:fs')).readFileSync(join(dir, 'images.yaml'), 'utf8');
      assert.ok(text.split('\n')[found.line - 1]?.includes(row.value), `line ${found.line}`);
      const s = await runCli(['sync', '--signing-key', keyFile], { cwd: dir });
      assert.equal(s.code, 2, s.stderr);
      assert.match(s.stderr, new RegExp(row.problem));
      assert.doesNotMatch(s.stderr, /INGOT_INTERNAL|Invalid time value/);
      storeUntouched(join(dir, '.ingot', 'store'));
    });
  }

  it('a sane expiry still works: 366d signs, and the index expires within a year', async () => {
    manifest({ signing: { expires: '366d' } });
    const r = await runCli(['sync', '--signing-key', keyFile, '--json'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).index.version, 1);
  });
});
