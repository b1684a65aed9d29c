/**
 * bench:sync — one large compressed image (xz, zstd, gzip) from a local HTTPS
 * server into an empty directory store, against the best native one-pass
 * shell pipeline (curl | tee openssl | decompressor | tee openssl, each
 * decompressor with its best flags: `xz -T0 -dc`, `zstd -T0 -dc`, `gzip -dc`)
 * and a two-pass download-then-decompress, all measured in this run. ingot
 * fsyncs an image before it publishes it (a crash must not leave a published
 * name over bytes that never reached the disk), so each native pipeline ends
 * with `sync FILE` for the same work; its time without that fsync is shown
 * beside it.
 *
 *   INGOT_BENCH_SIZE      image size in bytes (default 1 GiB)
 *   INGOT_BENCH_FORMATS   comma-separated subset of xz,zstd,gzip
 *   INGOT_BENCH_CONNECTIONS  ingot's --connections (default: ingot's default)
 *   INGOT_BENCH_NODE_ARGS    extra node flags for ingot's process (e.g. --cpu-prof --cpu-prof-dir=/tmp/p)
 *   INGOT_BENCH_ROUNDS   rounds per format (default 3): each round runs ingot, the
 *                        one-pass and the two-pass pipeline in turn; medians are compared,
 *                        so one slow moment of a shared VM does not decide a ratio
 *
 * Targets: ingot ≤ 1.0 × the native one-pass pipeline (with its fsync); faster
 * than two-pass (with its fsync); ingot's peak RSS < 200 MB.
 */
import { createHash } from 'node:crypto';
import { createReadStream, rmSync } from 'node:fs';
import * as os from 'node:os';
import { join, resolve } from 'node:path';
import { startHttpsServer } from '../test/helpers/https-server.js';
import { benchProject, compressedOnce, figure, generatedImage, median, ratio, row, timed, timedShell, WORK } from './lib.js';

const size = Number(process.env.INGOT_BENCH_SIZE ?? 2 ** 30);
const rounds = Math.max(1, Number(process.env.INGOT_BENCH_ROUNDS ?? 3));
const bin = resolve('dist/src/bin.js');

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

console.log(`preparing a ${(size / 2 ** 20).toFixed(0)} MiB image (cached in bench/.work)…`);
const raw = await generatedImage(`disk-${size}.raw`, size);
const wanted = (process.env.INGOT_BENCH_FORMATS ?? 'xz,zstd,gzip').split(',');
const allFormats = [
  { name: 'xz', suffix: 'xz', compress: 'xz -T2 -3 -c', native: 'xz -T0 -dc' },
  { name: 'zstd', suffix: 'zst', compress: 'zstd -3 -T2 -q -c', native: 'zstd -T0 -dc -q' },
  { name: 'gzip', suffix: 'gz', compress: 'gzip -6 -n -c', native: 'gzip -dc' },
].filter((f) => wanted.includes(f.name));
const formats = [];
for (const f of allFormats) formats.push({ ...f, file: await compressedOnce(raw, f.suffix, f.compress) });
const rawDigest = await sha256File(raw);
const server = await startHttpsServer(Object.fromEntries(formats.map((f) => [`/${f.name}`, { file: f.file }])));
const env = { NODE_EXTRA_CA_CERTS: server.caCertFile };
const out = join(WORK, 'out');

/**
 * Runs a native pipeline that writes `out`, then `sync` on that file: ingot makes an image durable (fsync)
 * before it publishes it, so the same work is the pipeline plus its fsync. Returns both times: with the
 * fsync (`seconds`) and up to the last byte written (`written`).
 */
async function durableShell(what: string, script: string): Promise<{ seconds: number; written: number }> {
  const run = await timedShell(`${script} && synced=$EPOCHREALTIME && sync -- '${out}' && echo "fsync $synced $EPOCHREALTIME" >&2`, { LC_ALL: 'C' });
  const times = /fsync ([\d.]+) ([\d.]+)/.exec(run.stderr);
  if (run.code !== 0 || !times) throw new Error(`${what} failed: ${run.stderr}`);
  return { seconds: run.seconds, written: run.seconds - (Number(times[2]) - Number(times[1])) };
}
const results: string[] = [];
let pass = true;

try {
  for (const format of formats) {
    const compressedDigest = await sha256File(format.file);
    const connections = process.env.INGOT_BENCH_CONNECTIONS ? ['--connections', process.env.INGOT_BENCH_CONNECTIONS] : [];
    const nodeArgs = (process.env.INGOT_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const url = server.url(`/${format.name}`);
    const ca = server.caCertFile;
    const times = {
      ingot: [] as number[],
      onePass: [] as number[],
      twoPass: [] as number[],
      onePassWritten: [] as number[],
      twoPassWritten: [] as number[],
      rss: [] as number[],
    };
    for (let round = 0; round < rounds; round++) {
      // (a) ingot sync into an empty directory store.
      const dir = benchProject(`sync-${format.name}`, {
        images: [
          {
            name: 'big',
            source: { type: 'https', url, checksum: compressedDigest, decompress: format.name },
            destination: { path: 'big.raw' },
            validation: { expected: rawDigest },
          },
        ],
      });
      const ingotRun = await timed(process.execPath, [...nodeArgs, bin, 'sync', '--quiet', ...connections], env, dir);
      if (ingotRun.code !== 0) throw new Error(`ingot sync failed: ${ingotRun.stderr}`);
      times.ingot.push(ingotRun.seconds);
      times.rss.push(ingotRun.peakRssMiB);

      // (b) the best native one-pass pipeline (openssl for hashing: SHA-NI).
      const onePassRun = await durableShell(
        'native pipeline',
        `curl -sSf --cacert '${ca}' '${url}' | tee >(openssl dgst -sha256 >&2) | ${format.native} | tee >(openssl dgst -sha256 >&2) > '${out}'`,
      );
      times.onePass.push(onePassRun.seconds);
      times.onePassWritten.push(onePassRun.written);
      // (c) two passes: download, hash, decompress, hash.
      const twoPassRun = await durableShell(
        'two-pass',
        `curl -sSf --cacert '${ca}' -o '${out}.c' '${url}' && openssl dgst -sha256 '${out}.c' >&2 && ${format.native} < '${out}.c' > '${out}' && openssl dgst -sha256 '${out}' >&2`,
      );
      times.twoPass.push(twoPassRun.seconds);
      times.twoPassWritten.push(twoPassRun.written);
      rmSync(out, { force: true });
      rmSync(`${out}.c`, { force: true });
      rmSync(dir, { recursive: true, force: true });
    }
    const ingot = { seconds: median(times.ingot), peakRssMiB: Math.max(...times.rss) };
    const onePass = { seconds: median(times.onePass), written: median(times.onePassWritten) };
    const twoPass = { seconds: median(times.twoPass), written: median(times.twoPassWritten) };
    const spread = (xs: number[]) => (xs.length > 1 ? ` (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})` : '');

    const vsOne = ingot.seconds / onePass.seconds;
    const vsTwo = ingot.seconds / twoPass.seconds;
    const ok = [
      figure(`sync.${format.name}_ratio_one_pass_fsync`, vsOne, 'x', { op: '<=', limit: 1 }),
      figure(`sync.${format.name}_ratio_two_pass_fsync`, vsTwo, 'x', { op: '<', limit: 1 }),
      figure(`sync.${format.name}_peak_rss_mib`, ingot.peakRssMiB, 'MiB', { op: '<', limit: 200 }),
    ].every(Boolean);
    // The same pipelines without their fsync (the comparison of records before 2026-12-01T16): shown, not a target.
    figure(`sync.${format.name}_ratio_one_pass`, ingot.seconds / onePass.written, 'x');
    figure(`sync.${format.name}_ratio_two_pass`, ingot.seconds / twoPass.written, 'x');
    figure(`sync.${format.name}_ingot_s`, ingot.seconds, 's');
    pass &&= ok;
    const decompressor = format.native.split(' ')[0];
    results.push(
      row([`${format.name}: ingot sync`, `${ingot.seconds.toFixed(2)} s`, `RSS ${ingot.peakRssMiB.toFixed(0)} MiB${spread(times.ingot)}`]),
      row([`${format.name}: curl | tee openssl | ${decompressor} | tee openssl; sync`, `${onePass.seconds.toFixed(2)} s`, spread(times.onePass)]),
      row([`${format.name}: download, then decompress (two passes); sync`, `${twoPass.seconds.toFixed(2)} s`, spread(times.twoPass)]),
      row([`${format.name}: ratio ingot / one-pass`, ratio(ingot.seconds, onePass.seconds), vsOne <= 1 ? 'ok (≤ 1.0×)' : 'OVER 1.0×']),
      row([`${format.name}: ratio ingot / two-pass`, ratio(ingot.seconds, twoPass.seconds), ingot.seconds < twoPass.seconds ? 'ok (< 1×)' : 'SLOWER']),
      row([
        `${format.name}: the same without their fsync`,
        `${onePass.written.toFixed(2)} s / ${twoPass.written.toFixed(2)} s`,
        `ingot ${ratio(ingot.seconds, onePass.written)} / ${ratio(ingot.seconds, twoPass.written)}`,
      ]),
      '',
    );
  }
} finally {
  await server.close();
}
console.log(
  `\nbench:sync — ${(size / 2 ** 20).toFixed(0)} MiB image, medians of ${rounds} rounds, ${new Date().toISOString()}, load ${os.loadavg()[0]!.toFixed(2)} on ${os.cpus().length} cores\n`,
);
console.log(results.join('\n'));
console.log(pass ? 'all targets met' : 'some targets missed');
