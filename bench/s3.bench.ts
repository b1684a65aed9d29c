/**
 * bench:s3 — one large compressed image from a local HTTPS server into a real
 * Ceph RGW (scripts/rgw.sh), against the native one-pass pipeline
 * `curl | xz -dc | s3cmd put - …` in the same run; then a no-change re-sync
 * of many small published images (only metadata is read).
 *
 *   INGOT_BENCH_SIZE     image size in bytes (default 1 GiB)
 *   INGOT_BENCH_IMAGES   images for the no-change re-sync (default 1000)
 *   INGOT_BENCH_NODE_ARGS    extra node flags for ingot's large sync (e.g. --cpu-prof --cpu-prof-dir=/tmp/p)
 *
 * Targets: ingot ≤ 1.15 × native; ingot's peak RSS < 250 MB.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startHttpsServer } from '../test/helpers/https-server.js';
import { dropBucket, freshBucket, needRgw, rgwStoreUrl } from '../test/helpers/rgw.js';
import { benchProject, compressedOnce, figure, generatedImage, ratio, row, timed, timedShell, WORK } from './lib.js';

const size = Number(process.env.INGOT_BENCH_SIZE ?? 2 ** 30);
const manyCount = Number(process.env.INGOT_BENCH_IMAGES ?? 1000);
const bin = resolve('dist/src/bin.js');

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

const rgw = await needRgw({
  skip: (m: string) => {
    throw new Error(m);
  },
} as never);
if (!rgw) throw new Error('RGW is not available');
const bucket = await freshBucket(rgw, 'ingot-bench');
const creds = {
  INGOT_S3_ACCESS_KEY: rgw.accessKey,
  INGOT_S3_SECRET_KEY: rgw.secretKey,
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};
mkdirSync(WORK, { recursive: true });
const s3cfg = join(WORK, 's3cfg');
const host = new URL(rgw.endpoint).host;
writeFileSync(
  s3cfg,
  `[default]\naccess_key = ${rgw.accessKey}\nsecret_key = ${rgw.secretKey}\nhost_base = ${host}\nhost_bucket = ${host}\nuse_https = False\nmultipart_chunk_size_mb = 16\n`,
  { mode: 0o600 },
);

console.log(`preparing a ${(size / 2 ** 20).toFixed(0)} MiB image (cached in bench/.work)…`);
const raw = await generatedImage(`disk-${size}.raw`, size);
const xz = await compressedOnce(raw, 'xz', 'xz -T2 -3 -c');
const rawDigest = await sha256File(raw);
const server = await startHttpsServer({ '/xz': { file: xz } });
const env = { NODE_EXTRA_CA_CERTS: server.caCertFile, ...creds };
const results: string[] = [];
let pass = true;

try {
  const dir = benchProject('s3-sync', {
    images: [
      {
        name: 'big',
        source: { type: 'https', url: server.url('/xz'), checksum: await sha256File(xz), decompress: 'xz' },
        destination: { path: 'big.raw' },
        validation: { expected: rawDigest },
      },
    ],
  });
  const store = rgwStoreUrl(rgw, bucket, 'ingot');
  const nodeArgs = (process.env.INGOT_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const ingot = await timed(process.execPath, [...nodeArgs, bin, 'sync', '--quiet', '--store', store], env, dir);
  if (ingot.code !== 0) throw new Error(`ingot sync failed: ${ingot.stderr}`);

  const native = await timedShell(
    `curl -sSf --cacert '${server.caCertFile}' '${server.url('/xz')}' | xz -dc -T0 | s3cmd -q -c '${s3cfg}' put - 's3://${bucket}/native/big.raw'`,
  );
  if (native.code !== 0) throw new Error(`native pipeline failed: ${native.stderr}`);

  const vs = ingot.seconds / native.seconds;
  const ok = vs <= 1.15 && ingot.peakRssMiB < 250;
  figure('s3.xz_ratio_native', vs, 'x', { op: '<=', limit: 1.15 });
  figure('s3.xz_peak_rss_mib', ingot.peakRssMiB, 'MiB', { op: '<', limit: 250 });
  pass &&= ok;
  results.push(
    row(['xz → RGW: ingot sync', `${ingot.seconds.toFixed(2)} s`, `RSS ${ingot.peakRssMiB.toFixed(0)} MiB`]),
    row(['xz → RGW: curl | xz -dc | s3cmd put -', `${native.seconds.toFixed(2)} s`]),
    row(['ratio ingot / native', ratio(ingot.seconds, native.seconds), vs <= 1.15 ? 'ok (≤ 1.15×)' : 'OVER 1.15×']),
    '',
  );

  // A no-change re-sync of many small images: the second run only reads metadata.
  const many = join(WORK, 's3-many');
  rmSync(many, { recursive: true, force: true });
  mkdirSync(many, { recursive: true });
  const images = [];
  for (let i = 0; i < manyCount; i++) {
    const body = randomBytes(64);
    writeFileSync(join(many, `img-${i}.raw`), body);
    images.push({
      name: `img-${i}`,
      source: { type: 'file', path: `img-${i}.raw`, checksum: `sha256:${createHash('sha256').update(body).digest('hex')}` },
      destination: { path: `many/img-${i}.raw` },
    });
  }
  // A signed store: the re-sync plans from the verified index.json plus one listing, no metadata GET per image.
  const keys = await timed(process.execPath, [bin, 'keys', 'generate', '--unencrypted', '--out', join(many, 'keys')]);
  if (keys.code !== 0) throw new Error(keys.stderr);
  writeFileSync(
    join(many, 'images.yaml'),
    JSON.stringify({ apiVersion: 'ingot/v1alpha1', kind: 'ImageManifest', metadata: { name: 'many' }, spec: { signing: { key: 'keys/ingot.key' }, images } }),
  );
  const manyStore = rgwStoreUrl(rgw, bucket, 'many');
  const first = await timed(process.execPath, [bin, 'sync', '--quiet', '--concurrency', '16', '--store', manyStore], env, many);
  if (first.code !== 0) throw new Error(`first sync of ${manyCount} images failed: ${first.stderr}`);
  const again = await timed(process.execPath, [bin, 'sync', '--quiet', '--concurrency', '16', '--store', manyStore], env, many);
  if (again.code !== 0) throw new Error(`re-sync failed: ${again.stderr}`);
  const okAgain = figure('s3.resync_s', again.seconds, 's', { op: '<=', limit: 1 });
  pass &&= Boolean(okAgain);
  const bare = await timed(process.execPath, ['-e', '0']);
  figure('s3.node_start_s', bare.seconds, 's');
  results.push(
    row([`${manyCount} small images: first sync (signed)`, `${first.seconds.toFixed(2)} s`]),
    row([
      `${manyCount} small images: no-change re-sync`,
      `${again.seconds.toFixed(2)} s`,
      `RSS ${again.peakRssMiB.toFixed(0)} MiB`,
      okAgain ? 'ok (≤ 1 s)' : 'OVER 1 s',
    ]),
    row(['  node -e 0 on this machine now', `${bare.seconds.toFixed(2)} s`]),
    '',
  );
} finally {
  await server.close();
  await dropBucket(rgw, bucket);
}
console.log(`\nbench:s3 — ${(size / 2 ** 20).toFixed(0)} MiB image into Ceph RGW, ${new Date().toISOString()}\n`);
console.log(results.join('\n'));
console.log(pass ? 'all targets met' : 'some targets missed');
