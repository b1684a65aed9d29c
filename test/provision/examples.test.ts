/**
 * The examples without a VM: 000's own cloud-init and Phase 2 as an ingot
 * profile (rendered with identity from --set, checked by cloud-init's
 * schema, planned with --dry-run in the document's order), and the
 * first-launch example's render/validate/plan part plus its digest manifest.
 * The first-launch boot itself runs in test/vm/first-launch.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { main } from '../../src/cli/main.js';
import { run } from '../../src/exec/run.js';
import { loadFileDigests } from '../../src/provision/launch/post-launch.js';
import { needTool } from '../helpers/tools.js';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const example = path.join(repoRoot, 'examples/first-launch');

async function ingot(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const stream = (append: (s: string) => void) => ({ write: (s: string) => (append(String(s)), true), isTTY: false }) as unknown as NodeJS.WriteStream;
  const code = await main({
    argv,
    env: { ...process.env, INGOT_DEBUG: '' },
    cwd: repoRoot,
    stdout: stream((s) => (stdout += s)),
    stderr: stream((s) => (stderr += s)),
  });
  return { code, stdout, stderr };
}

describe('examples', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ingot-examples-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const identity = ['--set', 'hostname=polis-vm', '--set', 'user=ubuntu', '--set', 'groups=docker'];

  test("000's cloud-init renders as written, identity from --set, and cloud-init accepts it", async (t) => {
    const out = path.join(dir, 'polis.user-data');
    const r = await ingot(['cloud-init', 'render', 'examples/first-launch/polis/polis.yaml', ...identity, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const text = await readFile(out, 'utf8');
    const config = parse(text) as Record<string, unknown>;
    assert.equal(config.hostname, 'polis-vm');
    assert.deepEqual(config.users, [{ name: 'ubuntu', shell: '/bin/bash', sudo: 'ALL=(ALL) NOPASSWD:ALL', lock_passwd: true, groups: 'docker' }]);
    for (const needle of [
      '9DC858229FC7DD38854AE2D88D81803C0EBFCD88',
      'b7ac389e5a19592cadf16e0ca30e40919516128f6e1b7f99e1cb4ff64554172e',
      'systemctl enable polis.service',
      'passwd -l root',
      'kernel.yama.ptrace_scope = 2',
      '-w /etc/docker/daemon.json -p rwxa -k docker',
      'Polis VM provisioned in $UPTIME seconds',
    ]) {
      assert.ok(text.includes(needle), needle);
    }
    const v = await ingot(['cloud-init', 'validate', out, ...(needTool(t, 'cloud-init') ? [] : ['--no-schema'])]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });

  test("000's Phase 2 in its order: transfer, pull, verify digests, up, health (multipass --dry-run)", async () => {
    const r = await ingot([
      'launch',
      'examples/first-launch/polis/polis.yaml',
      '--backend',
      'multipass',
      '--image',
      '24.04',
      '--name',
      'polis',
      '--memory',
      '4G',
      '--disk',
      '20G',
      ...identity,
      '--env',
      'POLIS_VERSION=v0.4.0',
      '--vms-dir',
      path.join(dir, 'vms'),
      '--dry-run',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const steps = r.stdout.split('\n').filter((l) => l.startsWith('# post-launch step'));
    assert.deepEqual(
      steps.map((l) => l.replace(/ \(timeout.*$/, '')),
      [
        '# post-launch step 1/5 transfer config → /opt/polis',
        '# post-launch step 2/5 pull-images /opt/polis/docker-compose.yml',
        '# post-launch step 3/5 verify-digests image-digests.yaml',
        '# post-launch step 4/5 docker compose up -d',
        '# post-launch step 5/5 services running',
      ],
    );
    assert.match(r.stdout, /^multipass launch 24\.04 --name polis --cpus 2 --memory 4G --disk 20G --timeout 900 --cloud-init /m);
    assert.match(r.stdout, /^multipass exec polis -- sudo env POLIS_VERSION=v0\.4\.0 docker compose -f \/opt\/polis\/docker-compose\.yml pull$/m);
    assert.ok(r.stdout.indexOf('docker inspect') < r.stdout.indexOf('docker compose up -d'), 'digests are verified before anything starts');
  });

  test('first-launch: the digest manifest matches the artifacts it pins', async () => {
    const digests = await loadFileDigests(path.join(example, 'artifacts.sha256'));
    assert.deepEqual([...digests.keys()].sort(), ['index.html', 'version.txt']);
    for (const [name, hex] of digests)
      assert.equal(
        createHash('sha256')
          .update(await readFile(path.join(example, 'artifacts', name)))
          .digest('hex'),
        hex,
        name,
      );
    const listed = (await readFile(path.join(example, 'bundle/images.list'), 'utf8')).trim().split('\n').sort();
    assert.deepEqual(listed, [...digests.keys()].sort(), 'pull.sh fetches what the manifest pins');
  });

  test('first-launch: run.sh renders, validates and plans without a VM (SKIP_BOOT=1)', async (t) => {
    if (!needTool(t, 'bash')) return;
    const r = await run('bash', [path.join(example, 'run.sh')], {
      cwd: repoRoot,
      reject: false,
      timeoutMs: 5 * 60_000,
      extraEnv: { SKIP_BOOT: '1', VMS_DIR: path.join(dir, 'fl-vms'), INGOT: `${process.execPath} --import tsx ${path.join(repoRoot, 'src/bin.ts')}` },
    });
    assert.equal(r.exitCode, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /user-data: valid \(ingot/);
    assert.match(r.stdout, /# post-launch step 5\/5 health: \/opt\/app\/scripts\/health\.sh/);
    assert.match(r.stdout, /SKIP_BOOT=1: no VM launched/);
  });
});
