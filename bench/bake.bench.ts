/**
 * What baking saves: time-to-ready of a first launch that provisions a
 * profile, versus a launch of an image with that profile baked in — same
 * run, same machine, same accelerator. Opt-in (not in bench/run.ts): it
 * takes 6–15 minutes under software emulation.
 *
 *   node --import tsx bench/bake.bench.ts [--profile base]
 *
 * 1. Builds (or reuses) the project's test image (scripts/build-test-vm.sh).
 * 2. Bakes PROFILE (default: the shipped `base`, which refreshes the package
 *    index and installs ca-certificates and curl — the guest needs network)
 *    onto it with `ingot sync`, verification boot included; reports the bake.
 * 3. Launches the plain test image with PROFILE (`ingot launch PROFILE --stop`),
 *    then the baked image with identity only, and prints both times to
 *    ready (cloud-init done and post-launch steps ok) and the accelerator.
 */
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { run } from '../src/exec/run.js';
import { ON_TEST_IMAGE, testImage, writeWorkspace } from '../test/bake/workspace.js';

const profile = process.argv.includes('--profile') ? process.argv[process.argv.indexOf('--profile') + 1]! : 'base';
const repoRoot = path.resolve(import.meta.dirname, '..');
const ingot = (args: string[], cwd: string) =>
  run(process.execPath, [path.join(repoRoot, 'dist/src/bin.js'), ...args], { cwd, reject: false, timeoutMs: 60 * 60_000 });

const image = await testImage();
if ('error' in image) {
  console.error(image.error);
  process.exit(77);
}
const dir = await mkdtemp(path.join(tmpdir(), 'ingot-bake-bench-'));
try {
  const ws = await writeWorkspace(dir, image.dir, [
    { name: 'bench-baked', source: { ...ON_TEST_IMAGE, profiles: [profile], format: 'qcow2' }, destination: { path: 'bench/bench-baked.qcow2' } },
  ]);
  await copyFile(path.join(repoRoot, 'profiles', `${profile}.yaml`), path.join(ws.dir, 'profiles', `${profile}.yaml`)).catch(() => undefined);
  let t = Date.now();
  const sync = await ingot(['sync', '-m', ws.manifest, '--store', ws.store, '--json'], ws.dir);
  const bakeSeconds = (Date.now() - t) / 1000;
  if (sync.exitCode !== 0) throw new Error(`bake failed:\n${sync.stdout}\n${sync.stderr.slice(-3000)}`);
  const meta = JSON.parse((await run('cat', [path.join(ws.store, 'metadata', 'bench', 'bench-baked.qcow2.json')])).stdout);
  const key =
    (await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'id')])).exitCode === 0
      ? (await run('cat', [path.join(dir, 'id.pub')])).stdout.trim()
      : '';
  const common = [
    '--kernel',
    path.join(ws.dir, 'base/vmlinuz'),
    '--initrd',
    path.join(ws.dir, 'base/initrd.img'),
    '--memory',
    '1536M',
    '--set',
    'user=bench',
    '--set',
    `ssh_key=${key}`,
    '--stop',
    '--rm-on-failure',
    '--timeout',
    '3600',
    '--vms-dir',
    path.join(dir, 'vms'),
    '--json',
  ];
  t = Date.now();
  const first = await ingot(
    ['launch', path.join(ws.dir, 'profiles', `${profile}.yaml`), '--image', path.join(ws.dir, 'base/disk.qcow2'), '--name', 'first-launch', ...common],
    ws.dir,
  );
  const firstSeconds = (Date.now() - t) / 1000;
  if (first.exitCode !== 0) throw new Error(`first launch failed:\n${first.stderr.slice(-3000)}`);
  t = Date.now();
  // Identity only: the same user and key, nothing else.
  const identity = path.join(dir, 'identity.yaml');
  await writeFile(
    identity,
    `#cloud-config\nusers:\n  - name: bench\n    shell: /bin/bash\n    sudo: ALL=(ALL) NOPASSWD:ALL\n    lock_passwd: true\n    ssh_authorized_keys: [${JSON.stringify(key)}]\n`,
  );
  const baked = await ingot(
    [
      'launch',
      '--user-data',
      identity,
      '--image',
      path.join(ws.store, meta.key),
      '--name',
      'baked-launch',
      ...common.filter((a) => !a.startsWith('user=') && !a.startsWith('ssh_key=') && a !== '--set'),
    ],
    ws.dir,
  );
  const bakedSeconds = (Date.now() - t) / 1000;
  if (baked.exitCode !== 0) throw new Error(`baked launch failed:\n${baked.stderr.slice(-3000)}`);
  const accel = (out: string) => String((JSON.parse(out) as { info?: { accelerator?: string } }).info?.accelerator ?? '?');
  console.log(`bake of "${profile}" (builder boot, cleanup, convert, verification boot): ${bakeSeconds.toFixed(0)} s [${meta.source.accelerator}]`);
  for (const s of meta.source.steps as { step: string; durationMs: number }[]) console.log(`  ${s.step}: ${(s.durationMs / 1000).toFixed(0)} s`);
  console.log(`first launch provisioning "${profile}": ${firstSeconds.toFixed(0)} s to ready [${accel(first.stdout)}]`);
  console.log(`launch of the baked image (identity only): ${bakedSeconds.toFixed(0)} s to ready [${accel(baked.stdout)}]`);
  console.log(`saved per launch: ${(firstSeconds - bakedSeconds).toFixed(0)} s (${((1 - bakedSeconds / firstSeconds) * 100).toFixed(0)}%)`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
