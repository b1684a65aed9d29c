/**
 * bench:noop — a no-change re-sync of 1,000 already published small images
 * against a signed directory store: it reads index.json (verified) and one
 * listing, no metadata document. Targets: re-sync ≤ 0.5 s, process start +
 * validate ≤ 0.3 s (both also shown against a bare `node -e 0` now).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { sha256 } from '../test/helpers/fixtures.js';
import { figure, ratio, row, timed, WORK } from './lib.js';

const count = Number(process.env.INGOT_BENCH_IMAGES ?? 1000);
const dir = join(WORK, 'noop');
rmSync(dir, { recursive: true, force: true });
mkdirSync(join(dir, 'files'), { recursive: true });
const images = [];
for (let i = 0; i < count; i++) {
  const body = `image ${i}\n`.repeat(64);
  writeFileSync(join(dir, 'files', `${i}.img`), body);
  images.push({ name: `img-${i}`, source: { type: 'file', path: `files/${i}.img`, checksum: sha256(body) }, destination: { path: `set/${i}.img` } });
}
// A signed store, as published stores are: the re-sync plans from the verified index.json plus one listing.
const bin = resolve('dist/src/bin.js');
const keys = await timed(process.execPath, [bin, 'keys', 'generate', '--unencrypted', '--out', join(dir, 'keys')]);
if (keys.code !== 0) throw new Error(keys.stderr);
writeFileSync(
  join(dir, 'images.yaml'),
  JSON.stringify({ apiVersion: 'ingot/v1alpha1', kind: 'ImageManifest', metadata: { name: 'noop' }, spec: { signing: { key: 'keys/ingot.key' }, images } }),
);
const first = await timed(process.execPath, [bin, 'sync', '--quiet', '--concurrency', '8'], {}, dir);
if (first.code !== 0) throw new Error(first.stderr);
const again = await timed(process.execPath, [bin, 'sync', '--quiet', '--concurrency', '8'], {}, dir);
if (again.code !== 0) throw new Error(again.stderr);
const validate = await timed(process.execPath, [bin, 'validate'], {}, dir);
// What the machine charges for any Node process right now: the floor under both figures above.
const bare = await timed(process.execPath, ['-e', '0'], {}, dir);
console.log(`\nbench:noop — ${count} images, directory store\n`);
console.log(row(['first sync (publishes all)', `${first.seconds.toFixed(2)} s`]));
const okSync = figure('noop.dir_resync_s', again.seconds, 's', { op: '<=', limit: 0.5 });
console.log(row(['no-change re-sync', `${again.seconds.toFixed(2)} s`, okSync ? 'ok (≤ 0.5 s)' : 'OVER 0.5 s']));
const okValidate = figure('noop.validate_s', validate.seconds, 's', { op: '<=', limit: 0.3 });
console.log(
  row([
    '  of which: process start + validate',
    `${validate.seconds.toFixed(2)} s`,
    ratio(validate.seconds, again.seconds),
    okValidate ? 'ok (≤ 0.3 s)' : 'OVER 0.3 s',
  ]),
);
figure('noop.node_start_s', bare.seconds, 's');
console.log(row(['  node -e 0 on this machine now', `${bare.seconds.toFixed(2)} s`, `validate = ${ratio(validate.seconds, bare.seconds)} bare start`]));
