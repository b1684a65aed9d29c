import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN_PATH, compress, diskImage, runCli, sha256, sha512, tempDir, writeManifest } from '../helpers/fixtures.js';
import { run } from '../../src/exec/run.js';
import { RANGE_SEGMENT } from '../../src/acquire/http-client.js';
import { startHttpsServer, type TestServer } from '../helpers/https-server.js';

const raw = diskImage(2 * 1024 * 1024 + 17, 3);
const iso = diskImage(700 * 1024, 4);
const forms = { xz: compress(raw, 'xz'), zstd: compress(raw, 'zstd'), gzip: compress(raw, 'gzip') };
let server: TestServer;
let env: NodeJS.ProcessEnv;

interface ImageSpec {
  name: string;
  source: { type: string; url: string; checksum: string; decompress?: string };
  destination: { path: string };
  validation?: { expected: string };
}

function images(): ImageSpec[] {
  return [
    ...(['xz', 'zstd', 'gzip'] as const).map((format) => ({
      name: `disk-${format}`,
      source: { type: 'https', url: server.url(`/disk.raw.${format}`), checksum: sha256(forms[format]), decompress: format },
      destination: { path: `disk/${format}.raw` },
      validation: { expected: sha256(raw) },
    })),
    { name: 'iso', source: { type: 'http', url: server.url('/os.iso'), checksum: sha512(iso) }, destination: { path: 'iso/os.iso' } },
  ];
}

function allFiles(dir: string): string[] {
  return existsSync(dir) ? (readdirSync(dir, { recursive: true }) as string[]).map(String).sort() : [];
}

describe('ingot sync into the directory store', () => {
  before(async () => {
    server = await startHttpsServer({
      '/disk.raw.xz': { body: forms.xz },
      '/disk.raw.zstd': { body: forms.zstd },
      '/disk.raw.gzip': { body: forms.gzip },
      '/os.iso': { body: iso },
    });
    env = { NODE_EXTRA_CA_CERTS: server.caCertFile };
  });
  after(() => server.close());

  it('publishes, then a re-sync only reads metadata', async () => {
    const dir = tempDir();
    writeManifest(dir, images());
    const first = await runCli(['sync', '--json'], { cwd: dir, env });
    assert.equal(first.code, 0, first.stderr);
    const result = JSON.parse(first.stdout);
    assert.deepEqual(
      result.images.map((i: { status: string }) => i.status),
      ['published', 'published', 'published', 'published'],
    );
    const store = join(dir, '.ingot', 'store');
    // xz and zstd write the store's file themselves (read back behind them); gzip is Node's zlib.
    assert.match(first.stderr, /\[disk-xz\] decompressing with xz \(native, -T0\) into the store's file/);
    assert.match(first.stderr, /\[disk-zstd\] decompressing with zstd \(native\) into the store's file/);
    assert.match(first.stderr, /\[disk-gzip\] decompressing with gzip \(node zlib\)(?! into)/);
    for (const format of ['xz', 'zstd', 'gzip']) {
      const bytes = readFileSync(join(store, 'images', 'disk', `${format}.raw`));
      assert.equal(sha256(bytes), sha256(raw), `${format} decompressed bytes`);
      const meta = JSON.parse(readFileSync(join(store, 'metadata', 'disk', `${format}.raw.json`), 'utf8'));
      assert.equal(meta.checksum, sha256(raw));
      assert.equal(meta.size, raw.length);
      assert.equal(meta.name, `disk-${format}`);
      assert.equal(meta.source.type, 'https');
      assert.equal(meta.source.checksum, sha256(forms[format as keyof typeof forms]), 'source-side checksum recorded');
      assert.equal(meta.source.decompress, format);
      assert.ok(!Number.isNaN(Date.parse(meta.uploadedAt)));
    }
    const isoMeta = JSON.parse(readFileSync(join(store, 'metadata', 'iso', 'os.iso.json'), 'utf8'));
    assert.equal(isoMeta.checksum, sha512(iso), 'sha512 validation');
    assert.equal(isoMeta.sha256, sha256(iso));
    assert.equal(isoMeta.source.checksum, undefined, 'no separate source checksum when it equals the stored one');

    const before = server.requests.length;
    const second = await runCli(['sync', '--json'], { cwd: dir, env });
    assert.equal(second.code, 0);
    assert.deepEqual(
      JSON.parse(second.stdout).images.map((i: { status: string }) => i.status),
      ['skipped', 'skipped', 'skipped', 'skipped'],
    );
    assert.equal(server.requests.length, before, 'a no-change sync makes no requests');
  });

  it('--dry-run prints the plan and touches nothing; --force republishes', async () => {
    const dir = tempDir();
    writeManifest(dir, images());
    const before = server.requests.length;
    const dry = await runCli(['sync', '--dry-run'], { cwd: dir, env });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /disk-xz\s+publish\s+would publish .*not in the store/);
    assert.match(dry.stdout, /nothing was changed/);
    assert.equal(server.requests.length, before);
    assert.deepEqual(allFiles(join(dir, '.ingot')), []);

    assert.equal((await runCli(['sync', '--only', 'iso'], { cwd: dir, env })).code, 0);
    const dry2 = await runCli(['sync', '--dry-run', '--json'], { cwd: dir, env });
    const plan = JSON.parse(dry2.stdout).images.map((i: { name: string; action: string }) => `${i.name}:${i.action}`);
    assert.deepEqual(plan, ['disk-xz:publish', 'disk-zstd:publish', 'disk-gzip:publish', 'iso:skip']);
    const forced = await runCli(['sync', '--only', 'iso', '--force', '--json'], { cwd: dir, env });
    const out = JSON.parse(forced.stdout).images[0];
    assert.equal(out.action, 'republish');
    assert.equal(out.status, 'published');
    assert.equal(out.reason, '--force');
  });

  it('one failing image does not stop the others; exit 1 with a summary', async () => {
    const dir = tempDir();
    const list = images();
    list[1]!.validation = { expected: sha256('something else') };
    list[2]!.source.checksum = sha256('wrong');
    writeManifest(dir, list);
    const r = await runCli(['sync'], { cwd: dir, env });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /IMAGE\s+ACTION\s+RESULT\s+SIZE\s+TIME\s+REASON/);
    assert.match(r.stdout, /disk-zstd\s+publish\s+failed .*decompressed bytes do not match/);
    assert.match(r.stdout, /disk-gzip\s+publish\s+failed .*source bytes do not match/);
    assert.match(r.stdout, /2 published, 0 up to date, 2 failed/);
    assert.match(r.stderr, /ERROR \[disk-zstd\] failed: .* expected=sha256:/);
    const store = join(dir, '.ingot', 'store');
    assert.ok(existsSync(join(store, 'images', 'disk', 'xz.raw')));
    assert.ok(!existsSync(join(store, 'images', 'disk', 'zstd.raw')), 'nothing published for a digest mismatch');
    assert.ok(!existsSync(join(store, 'metadata', 'disk', 'zstd.raw.json')));
    assert.deepEqual(allFiles(join(store, 'images', 'disk')), ['xz.raw'], 'no temporary files left behind');
  });

  it('a failed republish leaves the published version intact', async () => {
    const dir = tempDir();
    const list = images().slice(0, 1);
    writeManifest(dir, list);
    assert.equal((await runCli(['sync'], { cwd: dir, env })).code, 0);
    const store = join(dir, '.ingot', 'store');
    const metaBefore = readFileSync(join(store, 'metadata', 'disk', 'xz.raw.json'), 'utf8');
    server.files.set('/broken.xz', { body: forms.zstd });
    list[0]!.source.url = server.url('/broken.xz');
    list[0]!.source.checksum = sha256(forms.zstd);
    list[0]!.validation = { expected: sha256('a new version') };
    writeManifest(dir, list);
    const r = await runCli(['sync'], { cwd: dir, env });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /republish\s+failed .*xz decompression failed/);
    assert.equal(sha256(readFileSync(join(store, 'images', 'disk', 'xz.raw'))), sha256(raw));
    assert.equal(readFileSync(join(store, 'metadata', 'disk', 'xz.raw.json'), 'utf8'), metaBefore);
  });

  it('--connections splits a large download into ranged GETs; the published bytes and digests are the same', async () => {
    // Incompressible, so the xz file itself spans several ranged segments.
    const big = randomBytes(2 * RANGE_SEGMENT + 4321);
    const xz = compress(big, 'xz');
    server.files.set('/big.raw.xz', { body: xz });
    const dir = tempDir();
    writeManifest(dir, [
      {
        name: 'big',
        source: { type: 'https', url: server.url('/big.raw.xz'), checksum: sha256(xz), decompress: 'xz' },
        destination: { path: 'big.raw' },
        validation: { expected: sha256(big) },
      },
    ]);
    const r = await runCli(['sync', '--connections', '3', '--json'], { cwd: dir, env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha256(readFileSync(join(dir, '.ingot', 'store', 'images', 'big.raw'))), sha256(big));
    const ranged = server.requests.filter((q) => q.path === '/big.raw.xz' && q.range);
    assert.ok(ranged.length >= 2, `ranged GETs: ${ranged.map((q) => q.range).join(', ')}`);
    const one = tempDir();
    writeManifest(one, [{ name: 'big', source: { type: 'https', url: server.url('/big.raw.xz'), checksum: sha256(xz) }, destination: { path: 'big.raw.xz' } }]);
    const before = server.count('/big.raw.xz');
    assert.equal((await runCli(['sync', '--connections', '1'], { cwd: one, env })).code, 0);
    assert.equal(server.count('/big.raw.xz'), before + 1, 'one stream with --connections 1');
  });

  it('caps decompressed size', async () => {
    const dir = tempDir();
    writeManifest(dir, images().slice(0, 1));
    const r = await runCli(['sync', '--max-decompressed-size', '1MiB', '--json'], { cwd: dir, env });
    assert.equal(r.code, 1);
    const image = JSON.parse(r.stdout).images[0];
    assert.equal(image.error.code, 'INGOT_DECOMPRESS_LIMIT');
    assert.deepEqual(allFiles(join(dir, '.ingot', 'store', 'images', 'disk')), []);
  });

  it("a store disk that cannot take the image fails it as the store's failure, and nothing is published", async () => {
    const dir = tempDir();
    writeManifest(dir, images().slice(1, 2));
    // A 512 KiB file size limit (SIGXFSZ ignored) for ingot and the zstd it starts: the 2 MiB image cannot be written.
    const limited = `trap '' XFSZ; ulimit -f 512; exec "$0" "$@"`;
    const r = await run('bash', ['-c', limited, process.execPath, BIN_PATH, 'sync', '--json'], {
      cwd: dir,
      env: { ...process.env, ...env },
      reject: false,
      timeoutMs: 60_000,
    });
    assert.equal(r.exitCode, 1, r.stderr);
    const image = JSON.parse(r.stdout).images[0];
    assert.equal(image.error.code, 'INGOT_STORE_IO', JSON.stringify(image.error));
    assert.match(image.error.message, /cannot write images\/disk\/zstd\.raw: .*(File too large|SIGXFSZ)/);
    assert.deepEqual(allFiles(join(dir, '.ingot', 'store', 'images', 'disk')), [], 'no image and no temporary file');
  });

  it('publishes a file source and the builtin decompressors give the same bytes', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'local.raw.zst'), forms.zstd);
    writeFileSync(join(dir, 'local.raw.xz'), forms.xz);
    writeManifest(dir, [
      {
        name: 'local-zstd',
        source: { type: 'file', path: 'local.raw.zst', checksum: sha256(forms.zstd), decompress: 'zstd' },
        destination: { path: 'local/z.raw' },
        validation: { expected: sha256(raw) },
      },
      {
        name: 'local-xz',
        source: { type: 'file', path: 'local.raw.xz', checksum: sha256(forms.xz), decompress: 'xz' },
        destination: { path: 'local/x.raw' },
        validation: { expected: sha256(raw) },
      },
    ]);
    const r = await runCli(['sync', '--decompressor', 'builtin'], { cwd: dir, env });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /decompressing with zstd \((fzstd, js|node zlib)\)/);
    assert.match(r.stderr, /decompressing with xz \(wasm\)/);
    assert.equal(sha256(readFileSync(join(dir, '.ingot', 'store', 'images', 'local', 'x.raw'))), sha256(raw));
  });

  it('list, verify (catching a corrupted byte) and prune', async () => {
    const dir = tempDir();
    writeManifest(dir, images());
    assert.equal((await runCli(['sync'], { cwd: dir, env })).code, 0);
    const listed = await runCli(['list', '--json'], { cwd: dir });
    assert.equal(listed.code, 0);
    assert.deepEqual(
      JSON.parse(listed.stdout).images.map((m: { path: string }) => m.path),
      ['disk/gzip.raw', 'disk/xz.raw', 'disk/zstd.raw', 'iso/os.iso'],
    );
    const prefixed = await runCli(['list', '--prefix', 'iso/'], { cwd: dir });
    assert.match(prefixed.stdout, /iso\/os\.iso\s+iso\s+700 KiB\s+sha512:/);
    assert.doesNotMatch(prefixed.stdout, /disk/);

    assert.equal((await runCli(['verify'], { cwd: dir })).code, 0);
    const file = join(dir, '.ingot', 'store', 'images', 'disk', 'zstd.raw');
    const bytes = readFileSync(file);
    bytes[1000] = bytes[1000]! ^ 0xff;
    writeFileSync(file, bytes);
    const bad = await runCli(['verify'], { cwd: dir });
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /MISMATCH\s+disk\/zstd\.raw: checksum mismatch/);
    assert.match(bad.stdout, /1 of 4 failed verification/);
    const one = await runCli(['verify', '--store', join(dir, '.ingot', 'store'), 'iso/os.iso', 'nope/x'], { cwd: dir });
    assert.equal(one.code, 1);
    assert.match(one.stdout, /ok\s+iso\/os\.iso/);
    assert.match(one.stdout, /nope\/x: no metadata/);

    // Remove two images from the manifest; drop a foreign file outside images/ and metadata/.
    writeManifest(dir, images().slice(2));
    const store = join(dir, '.ingot', 'store');
    writeFileSync(join(store, 'keep-me.txt'), 'not ingot’s');
    const dry = await runCli(['prune', '--dry-run'], { cwd: dir });
    assert.equal(dry.code, 0);
    assert.match(dry.stdout, /would remove disk\/xz\.raw/);
    assert.ok(existsSync(join(store, 'images', 'disk', 'xz.raw')));
    const pruned = await runCli(['prune', '--json'], { cwd: dir });
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.deepEqual(
      JSON.parse(pruned.stdout)
        .remove.map((r: { path: string }) => r.path)
        .sort(),
      ['disk/xz.raw', 'disk/zstd.raw'],
    );
    assert.ok(!existsSync(join(store, 'images', 'disk', 'xz.raw')));
    assert.ok(!existsSync(join(store, 'metadata', 'disk', 'xz.raw.json')));
    assert.ok(existsSync(join(store, 'images', 'disk', 'gzip.raw')));
    assert.ok(existsSync(join(store, 'keep-me.txt')), 'nothing outside images/ and metadata/ is touched');
    const refused = await runCli(['prune', '--shard', '1/2'], { cwd: dir });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /refuses to run with --shard/);
  });

  it('a second sync fails clearly while the store is locked', async () => {
    const dir = tempDir();
    writeManifest(dir, images().slice(3));
    const store = join(dir, '.ingot', 'store');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(store, { recursive: true });
    writeFileSync(
      join(store, '.ingot-lock'),
      JSON.stringify({ owner: 'ci job 7', host: 'runner', startedAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 60_000).toISOString() }),
    );
    const r = await runCli(['sync'], { cwd: dir, env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /store is locked by ci job 7 on runner/);
    writeFileSync(join(store, '.ingot-lock'), JSON.stringify({ owner: 'dead job', expiresAt: new Date(Date.now() - 1000).toISOString() }));
    const stale = await runCli(['sync'], { cwd: dir, env });
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /--break-lock/);
    const broken = await runCli(['sync', '--break-lock'], { cwd: dir, env });
    assert.equal(broken.code, 0, broken.stderr);
    assert.ok(!existsSync(join(store, '.ingot-lock')), 'the lock is released');
  });

  it('init writes a starter manifest that validates, and refuses to overwrite', async () => {
    const dir = tempDir();
    const r = await runCli(['init'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(readFileSync(join(dir, '.gitignore'), 'utf8'), /^\.ingot\/$/m);
    assert.equal((await runCli(['validate'], { cwd: dir })).code, 0);
    const again = await runCli(['init'], { cwd: dir });
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already exists/);
  });

  it('writes JSON log lines with --log-format json', async () => {
    const dir = tempDir();
    writeManifest(dir, images().slice(3));
    const r = await runCli(['sync', '--log-format', 'json'], { cwd: dir, env });
    assert.equal(r.code, 0);
    const lines = r.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const published = lines.find((l) => l.step === 'publish');
    assert.equal(published.level, 'info');
    assert.equal(published.image, 'iso');
    assert.equal(typeof published.bytes, 'number');
    assert.equal(typeof published.durationMs, 'number');
    assert.ok(lines.every((l) => typeof l.time === 'string'));
  });
});

describe('size cap without decompression', () => {
  it('stops a body larger than the cap even when nothing is decompressed', async () => {
    const body = diskImage(3 * 1024 * 1024, 51);
    const endless = await startHttpsServer({ '/big': { body } });
    try {
      const dir = tempDir();
      writeManifest(dir, [{ name: 'big', source: { type: 'https', url: endless.url('/big'), checksum: sha256(body) }, destination: { path: 'big.img' } }]);
      const r = await runCli(['sync', '--max-decompressed-size', '1MiB', '--json'], { cwd: dir, env: { NODE_EXTRA_CA_CERTS: endless.caCertFile } });
      assert.equal(r.code, 1);
      const error = JSON.parse(r.stdout).images[0].error;
      assert.equal(error.code, 'INGOT_DECOMPRESS_LIMIT');
      assert.match(error.message, /^size exceeds the limit of 1\.0 MiB: big/);
      assert.deepEqual(allFiles(join(dir, '.ingot', 'store', 'images')), []);
    } finally {
      await endless.close();
    }
  });
});
