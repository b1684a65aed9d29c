/**
 * `npm run demo`: ingot's main job, offline. Makes example images (a raw disk
 * image compressed with xz and zstd, an ISO-like file), serves them over local
 * HTTPS with a throwaway CA, writes a manifest with their real digests, and
 * runs the real CLI: sync, list, a no-change re-sync, and verify.
 * Everything lands in .ingot/demo/ (git-ignored); re-running starts fresh.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { compress, diskImage, sha256 } from '../test/helpers/fixtures.js';
import { startHttpsServer } from '../test/helpers/https-server.js';

const root = resolve(process.argv[2] ?? '.ingot/demo');
const bin = resolve('dist/src/bin.js');

function ingot(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  console.log(`\n$ ingot ${args.join(' ')}`);
  return new Promise((done) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: 'inherit' });
    child.on('close', (code) => done(code ?? 1));
  });
}

rmSync(root, { recursive: true, force: true });
mkdirSync(root, { recursive: true });
console.log(`demo directory: ${root}`);
const disk = diskImage(32 * 1024 * 1024, 42);
const iso = diskImage(4 * 1024 * 1024, 43);
const xz = compress(disk, 'xz');
const zst = compress(disk, 'zstd');
const server = await startHttpsServer({
  '/releases/demo-1.0/disk.raw.xz': { body: xz },
  '/releases/demo-1.0/disk.raw.zst': { body: zst },
  '/releases/demo-1.0/installer.iso': { body: iso },
});
writeFileSync(
  join(root, 'images.yaml'),
  `# A demo manifest: images served by a local HTTPS server with a throwaway CA.
apiVersion: ingot/v1alpha1
kind: ImageManifest
metadata:
  name: demo
spec:
  images:
    - name: demo-disk-1.0
      family: demo-disk
      version: "1.0"
      source:
        type: https
        url: ${server.url('/releases/demo-1.0/disk.raw.xz')}
        checksum: ${sha256(xz)}
        decompress: xz
      destination: { path: demo/disk-1.0.raw }
      validation: { expected: "${sha256(disk)}" }
    - name: demo-disk-1.0-zstd
      source:
        type: https
        url: ${server.url('/releases/demo-1.0/disk.raw.zst')}
        checksum: ${sha256(zst)}
        decompress: zstd
      destination: { path: demo/disk-1.0-zstd.raw }
      validation: { expected: "${sha256(disk)}" }
    - name: demo-installer-1.0
      source:
        type: https
        url: ${server.url('/releases/demo-1.0/installer.iso')}
        checksum: ${sha256(iso)}
      destination: { path: demo/installer-1.0.iso }
`,
);
const env = { NODE_EXTRA_CA_CERTS: server.caCertFile };
let failed = 0;
try {
  failed += (await ingot(['validate'], env)) === 0 ? 0 : 1;
  failed += (await ingot(['sync'], env)) === 0 ? 0 : 1;
  failed += (await ingot(['list'], env)) === 0 ? 0 : 1;
  const before = server.requests.length;
  failed += (await ingot(['sync'], env)) === 0 ? 0 : 1;
  console.log(`(the re-sync made ${server.requests.length - before} HTTP requests: it only read metadata)`);
  failed += (await ingot(['verify'], env)) === 0 ? 0 : 1;
} finally {
  await server.close();
}
console.log(failed === 0 ? `\ndemo done: the store is in ${join(root, '.ingot', 'store')}` : `\ndemo: ${failed} step(s) failed`);
process.exitCode = failed === 0 ? 0 : 1;
