/**
 * `ingot sync` / list / verify / prune against a real Ceph RGW, through the
 * built CLI: idempotency, atomic publish (digest mismatch, SIGKILL), the run
 * lock between two syncs, and credentials from the environment and from SOPS.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it, type TestContext } from 'node:test';
import { ageKeygen, writeSops } from '../credentials/sops-writer.js';
import { BIN_PATH, compress, diskImage, runCli, sha256, tempDir, writeManifest } from '../helpers/fixtures.js';
import { startHttpsServer, type TestServer } from '../helpers/https-server.js';
import { dropBucket, freshBucket, needRgw, rgwClient, rgwEnv, rgwStoreUrl, type Rgw } from '../helpers/rgw.js';
import { needTool } from '../helpers/tools.js';

const small = diskImage(300 * 1024, 41);
const big = diskImage(20 * 1024 * 1024, 42);
const bigXz = compress(big, 'xz');
let server: TestServer;
const buckets: string[] = [];
let rgwForCleanup: Rgw | undefined;

async function setup(t: TestContext) {
  const rgw = await needRgw(t);
  if (!rgw) return undefined;
  rgwForCleanup = rgw;
  const bucket = await freshBucket(rgw);
  buckets.push(bucket);
  const dir = tempDir();
  const env = { ...rgwEnv(rgw), NODE_EXTRA_CA_CERTS: server.caCertFile };
  return { rgw, bucket, dir, env, store: rgwStoreUrl(rgw, bucket, 'lab') };
}

async function objects(rgw: Rgw, bucket: string): Promise<{ keys: string[]; uploads: string[] }> {
  const sdk = await import('@aws-sdk/client-s3');
  const client = await rgwClient(rgw);
  try {
    const listed = await client.send(new sdk.ListObjectsV2Command({ Bucket: bucket }));
    const uploads = await client.send(new sdk.ListMultipartUploadsCommand({ Bucket: bucket }));
    return {
      keys: (listed.Contents ?? [])
        .map((o) => o.Key!)
        .filter((k) => !k.endsWith('.ingot-lock'))
        .sort(),
      uploads: (uploads.Uploads ?? []).map((u) => u.Key!),
    };
  } finally {
    client.destroy();
  }
}

/** Resolves once KEY exists in BUCKET (polled), or throws after a minute. */
async function waitForObject(rgw: Rgw, bucket: string, key: string): Promise<void> {
  const sdk = await import('@aws-sdk/client-s3');
  const client = await rgwClient(rgw);
  try {
    for (let i = 0; i < 600; i++) {
      try {
        await client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: key }));
        return;
      } catch {
        await sleep(100);
      }
    }
    throw new Error(`${key} never appeared in ${bucket}`);
  } finally {
    client.destroy();
  }
}

const image = (name: string, path: string, body: Buffer, extra: Record<string, unknown> = {}) => ({
  name,
  source: { type: 'https', url: server.url(path), checksum: sha256(body) },
  destination: { path: `${name}.img` },
  ...extra,
});

describe('sync into S3 (Ceph RGW)', { concurrency: false }, () => {
  before(async () => {
    server = await startHttpsServer({
      '/small': { body: small },
      '/big.xz': { body: bigXz },
      '/big-slow.xz': { body: bigXz, slowMs: 40 },
    });
  });
  after(async () => {
    await server.close();
    if (rgwForCleanup) for (const b of buckets) await dropBucket(rgwForCleanup, b).catch(() => undefined);
  });

  it('publishes, skips on re-sync without downloading, lists, verifies, republishes and prunes', async (t) => {
    const s = await setup(t);
    if (!s) return;
    const bigImage = {
      ...image('big', '/big.xz', bigXz),
      source: { type: 'https', url: server.url('/big.xz'), checksum: sha256(bigXz), decompress: 'xz' },
      validation: { expected: sha256(big) },
    };
    writeManifest(s.dir, [image('small', '/small', small), bigImage]);
    const first = await runCli(['sync', '--store', s.store, '--json'], { cwd: s.dir, env: s.env });
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(
      JSON.parse(first.stdout).images.map((i: { status: string }) => i.status),
      ['published', 'published'],
    );
    const stored = await objects(s.rgw, s.bucket);
    assert.deepEqual(stored.keys, ['lab/images/big.img', 'lab/images/small.img', 'lab/metadata/big.img.json', 'lab/metadata/small.img.json']);
    assert.deepEqual(stored.uploads, []);

    const requests = server.requests.length;
    const again = await runCli(['sync', '--store', s.store, '--json'], { cwd: s.dir, env: s.env });
    assert.deepEqual(
      JSON.parse(again.stdout).images.map((i: { status: string }) => i.status),
      ['skipped', 'skipped'],
    );
    assert.equal(server.requests.length, requests, 'a no-change sync downloads nothing');

    const listed = JSON.parse((await runCli(['list', '--store', s.store, '--json'], { cwd: s.dir, env: s.env })).stdout);
    assert.deepEqual(
      listed.images.map((m: { path: string; size: number }) => [m.path, m.size]),
      [
        ['big.img', big.length],
        ['small.img', small.length],
      ],
    );
    const verified = await runCli(['verify', '--store', s.store], { cwd: s.dir, env: s.env });
    assert.equal(verified.code, 0, verified.stdout);

    const forced = await runCli(['sync', '--store', s.store, '--force', '--only', 'small', '--json'], { cwd: s.dir, env: s.env });
    assert.equal(JSON.parse(forced.stdout).images[0].action, 'republish');

    writeManifest(s.dir, [image('small', '/small', small)]);
    const pruned = await runCli(['prune', '--store', s.store, '--json'], { cwd: s.dir, env: s.env });
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.deepEqual((await objects(s.rgw, s.bucket)).keys, ['lab/images/small.img', 'lab/metadata/small.img.json']);
  });

  it('a digest mismatch leaves no object and no pending multipart upload', async (t) => {
    const s = await setup(t);
    if (!s) return;
    writeManifest(s.dir, [
      {
        name: 'big',
        source: { type: 'https', url: server.url('/big.xz'), checksum: sha256(bigXz), decompress: 'xz' },
        destination: { path: 'big.img' },
        validation: { expected: sha256('not it') },
      },
    ]);
    const r = await runCli(['sync', '--store', s.store], { cwd: s.dir, env: s.env });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /decompressed bytes do not match/);
    assert.deepEqual(await objects(s.rgw, s.bucket), { keys: [], uploads: [] });
  });

  it('a sync killed mid-upload leaves nothing visible; the next run completes; prune --incomplete clears the upload', async (t) => {
    const s = await setup(t);
    if (!s) return;
    const slow = {
      name: 'big',
      source: { type: 'https', url: server.url('/big-slow.xz'), checksum: sha256(bigXz), decompress: 'xz' },
      destination: { path: 'big.img' },
      validation: { expected: sha256(big) },
    };
    writeManifest(s.dir, [slow]);
    const child = spawn(process.execPath, [BIN_PATH, 'sync', '--store', s.store], { cwd: s.dir, env: { ...process.env, ...s.env }, stdio: 'ignore' });
    const deadline = Date.now() + 60_000;
    while ((await objects(s.rgw, s.bucket)).uploads.length === 0) {
      if (Date.now() > deadline) throw new Error('the upload never started');
      await sleep(100);
    }
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const after = await objects(s.rgw, s.bucket);
    assert.deepEqual(after.keys, [], 'no image, no metadata');
    assert.equal(after.uploads.length, 1, 'the killed multipart upload is pending, invisible');

    writeManifest(s.dir, [{ ...slow, source: { ...slow.source, url: server.url('/big.xz') } }]);
    // The killed run's lock names this host and a dead pid, so the next run takes it over.
    const r = await runCli(['sync', '--store', s.store], { cwd: s.dir, env: s.env });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal((await runCli(['verify', '--store', s.store], { cwd: s.dir, env: s.env })).code, 0);
    const cleared = await runCli(['prune', '--incomplete', '--older-than', '0s', '--store', s.store, '--json'], { cwd: s.dir, env: s.env });
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.equal(JSON.parse(cleared.stdout).aborted.length, 1);
    assert.deepEqual((await objects(s.rgw, s.bucket)).uploads, []);
  });

  it('two concurrent syncs: one runs, the other fails clearly on the lock', async (t) => {
    const s = await setup(t);
    if (!s) return;
    writeManifest(s.dir, [
      {
        name: 'big',
        source: { type: 'https', url: server.url('/big-slow.xz'), checksum: sha256(bigXz), decompress: 'xz' },
        destination: { path: 'big.img' },
        validation: { expected: sha256(big) },
      },
    ]);
    // B starts only once A holds the lock (a fixed head start failed on a loaded machine).
    const first = runCli(['sync', '--store', s.store], { cwd: s.dir, env: s.env });
    await waitForObject(s.rgw, s.bucket, 'lab/.ingot-lock');
    const [a, b] = await Promise.all([first, runCli(['sync', '--store', s.store], { cwd: s.dir, env: s.env })]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 1);
    assert.match(b.stderr, /store is locked by ingot sync/);
  });

  it('reads credentials from a SOPS file, never printing them; wrong keys and a missing bucket are clear errors', async (t) => {
    const s = await setup(t);
    if (!s || !needTool(t, 'age')) return;
    const age = await ageKeygen();
    writeFileSync(join(s.dir, 'age.key'), age.keyFile);
    writeFileSync(join(s.dir, 's3.sops.yaml'), await writeSops({ access_key: s.rgw.accessKey, secret_key: s.rgw.secretKey }, [age.recipient]));
    writeManifest(s.dir, [image('small', '/small', small)]);
    const env = { NODE_EXTRA_CA_CERTS: server.caCertFile, INGOT_S3_ACCESS_KEY: '', INGOT_S3_SECRET_KEY: '', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' };
    const r = await runCli(['sync', '--store', s.store, '--credentials', 's3.sops.yaml', '--sops-age-key-file', 'age.key', '--debug', '--log-format', 'json'], {
      cwd: s.dir,
      env,
    });
    assert.equal(r.code, 0, r.stderr);
    for (const secret of [s.rgw.secretKey, age.identity]) assert.ok(!(r.stdout + r.stderr).includes(secret), 'secret leaked');

    const wrong = await runCli(['sync', '--store', s.store, '--force'], {
      cwd: s.dir,
      env: { ...env, INGOT_S3_ACCESS_KEY: s.rgw.accessKey, INGOT_S3_SECRET_KEY: 'wrong-secret-value' },
    });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr + wrong.stdout, /INGOT_STORE_AUTH|credentials/i);
    assert.ok(!(wrong.stdout + wrong.stderr).includes('wrong-secret-value'));

    const missing = await runCli(['list', '--store', rgwStoreUrl(s.rgw, 'no-such-bucket-ingot')], { cwd: s.dir, env: s.env });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no-such-bucket-ingot/);
  });
});
