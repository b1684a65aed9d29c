/**
 * bench:validate — `ingot validate` of manifests with N and 4N problems
 * (images sharing one name and path). Linear means the ratio stays near 4;
 * before issue 17 each problem re-split the file and 9,998 problems took 83 s.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { figure, row, timed, WORK } from './lib.js';

const base = Number(process.env.INGOT_BENCH_IMAGES ?? 2500);
const bin = resolve('dist/src/bin.js');
const dir = join(WORK, 'validate');
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const hex = 'a'.repeat(64);
const results: { images: number; seconds: number }[] = [];
for (const count of [base, 4 * base]) {
  const images = Array.from(
    { length: count },
    () => `    - name: same\n      source: { type: https, url: "https://example.org/x.raw", checksum: "sha256:${hex}" }\n      destination: { path: same.raw }`,
  );
  writeFileSync(join(dir, 'images.yaml'), `apiVersion: ingot/v1alpha1\nkind: ImageManifest\nmetadata: { name: t }\nspec:\n  images:\n${images.join('\n')}\n`);
  const run = await timed(process.execPath, [bin, 'validate'], {}, dir);
  if (run.code !== 2) throw new Error(`validate exited ${run.code}: ${run.stderr}`);
  results.push({ images: count, seconds: run.seconds });
}
console.log(`\nbench:validate — problems grow 4×; linear time grows ~4×\n`);
for (const r of results) console.log(row([`${r.images} images, ${2 * (r.images - 1)} problems`, `${r.seconds.toFixed(2)} s`]));
const ratio = results[1]!.seconds / results[0]!.seconds;
console.log(row(['time ratio (4× the problems)', `${ratio.toFixed(2)}×`, ratio < 6 ? 'ok (linear)' : 'SUPERLINEAR']));
figure('validate.problems_growth', ratio, 'x', { op: '<', limit: 6 });
