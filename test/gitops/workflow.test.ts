/**
 * The GitOps example (examples/gitops) as shipped: the workflow's triggers,
 * pins and conditions, and its `run:` steps run in order with the same
 * environment variables against Ceph RGW and the local HTTPS server, for a
 * push, a manual run, a manual run with prune: true and one with force: true;
 * and run.sh, offline.
 *
 * What the test supplies in place of GitHub: the checkout is a copy of the
 * example folder (with a .git directory); `uses:` steps are not run (node and
 * packer are this machine's; their pinned inputs are checked instead);
 * secrets.SOPS_AGE_KEY is an age key made here, and images/e2.sops.yaml is
 * made from images/e2.example.yaml's keys with RGW's values, encrypted as
 * images/.sops.yaml says (encrypted_regex) by the test SOPS writer with the
 * real `age`. Differences in the environment: INGOT_PACKAGE points at a
 * tarball packed from this checkout (so the `ingot` the install step puts on
 * PATH is this checkout's build), npm installs into a scratch prefix, and
 * NODE_EXTRA_CA_CERTS trusts the local server's throwaway CA. The one change
 * to the example's files: an https image served by the local server is
 * appended to the manifest, so a download goes through the pipeline too.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { checkManifest } from '../../src/manifest/load.js';
import { ageKeygen, writeSops } from '../credentials/sops-writer.js';
import { compress, diskImage, sha256, tempDir } from '../helpers/fixtures.js';
import { startHttpsServer, type TestServer } from '../helpers/https-server.js';
import { dropBucket, freshBucket, needRgw, rgwClient, type Rgw } from '../helpers/rgw.js';
import { needTool } from '../helpers/tools.js';
import { evaluate, runJob, truthy, type StepResult, type Workflow } from './actions.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLE = join(ROOT, 'examples', 'gitops');
const WORKFLOW = join(EXAMPLE, '.github', 'workflows', 'images-sync.yml');
const workflow = parse(readFileSync(WORKFLOW, 'utf8')) as Workflow & { on: any; concurrency: any };
const steps = workflow.jobs.sync!.steps;
const step = (name: string) => {
  const found = steps.find((s) => s.name === name);
  assert.ok(found, `no step "${name}"`);
  return found;
};

/** A GitHub paths filter pattern as a RegExp (enough for ** and *). */
function glob(pattern: string): RegExp {
  const re = pattern
    .replace(/[.+^$()|[\]\\]/g, '\\$&')
    .replace(/\*\*/g, '\u0000')
    .replace(/\*/g, '[^/]*')
    .replace(/\u0000/g, '.*');
  return new RegExp(`^${re}$`);
}

/** The example's manifest, checked by ingot's own loader. */
function exampleManifest() {
  const file = join(EXAMPLE, 'images', 'images.yaml');
  const result = checkManifest(readFileSync(file, 'utf8'), file);
  assert.ok(result.manifest, JSON.stringify(result.problems));
  return result.manifest;
}

describe('the GitOps example workflow', () => {
  it('triggers on the manifest and on every packer template directory it names; packer init covers them too', () => {
    const manifest = exampleManifest();
    const packerDirs = manifest.images.filter((i) => i.source.type === 'packer').map((i) => String(i.source.path));
    assert.ok(packerDirs.length > 0);
    const patterns = (workflow.on.push.paths as string[]).map(glob);
    const triggers = (file: string) => patterns.some((p) => p.test(file));
    assert.deepEqual(workflow.on.push.branches, ['main']);
    for (const file of ['images/images.yaml', 'images/e2.sops.yaml', 'images/.sops.yaml', 'images/boot/lab.ipxe']) assert.ok(triggers(file), file);
    for (const dir of packerDirs) {
      assert.ok(triggers(`${dir}/gateway.pkr.hcl`) && triggers(`${dir}/scripts/setup.sh`), dir);
      assert.ok(step('Packer init').run!.includes(dir), `packer init covers ${dir}`);
    }
    // Local sources (file, packer) sit under the repository root the manifest names.
    assert.equal(manifest.root, EXAMPLE.replace(/\/$/, ''));
    assert.equal(manifest.storeUrl, undefined, 'the store comes from the credentials: images/ and metadata/ at the bucket root');
  });

  it('pins packer and its action, installs ingot from a source that is not a registry name, keeps ${{ }} out of scripts', () => {
    const packer = steps.find((s) => s.uses?.startsWith('hashicorp/setup-packer@'));
    assert.match(packer?.uses ?? '', /^hashicorp\/setup-packer@v\d+\.\d+\.\d+$/);
    assert.match(String(packer?.with?.version), /^\d+\.\d+\.\d+$/);
    assert.equal(step('Install ingot').run!.trim(), 'npm install --global "$INGOT_PACKAGE"');
    assert.match(String(workflow.env?.INGOT_PACKAGE), /^(github:|git\+https:|https:\/\/|\.\/)/);
    for (const s of steps) {
      assert.ok(!(s.run ?? '').includes('${{'), `${s.name}: an expression pasted into a script`);
      assert.ok(!/--store\b/.test(s.run ?? ''), `${s.name}: --store would override the credentials' bucket`);
    }
    assert.equal(workflow.concurrency['cancel-in-progress'], false);
    assert.deepEqual(Object.keys(workflow.on.workflow_dispatch.inputs).sort(), ['force', 'prune']);
  });

  it('prunes only on a manual run with prune: true, and then for real (no --dry-run)', () => {
    const prune = step('Prune orphaned images');
    const when = (github: Record<string, unknown>, inputs: Record<string, unknown>) =>
      truthy(evaluate(prune.if!, { secrets: {}, inputs, github, env: {} }, { failed: false }));
    assert.equal(when({ event_name: 'push' }, {}), false);
    assert.equal(when({ event_name: 'workflow_dispatch' }, { prune: false, force: true }), false);
    assert.equal(when({ event_name: 'workflow_dispatch' }, { prune: true }), true);
    assert.match(prune.run!, /ingot prune\s+\\\n\s+--credentials images\/e2\.sops\.yaml/);
    assert.doesNotMatch(prune.run!, /--dry-run/);
  });

  it('the SOPS configuration encrypts the keys of images/e2.sops.yaml and leaves endpoint and bucket readable', () => {
    const rule = (parse(readFileSync(join(EXAMPLE, 'images', '.sops.yaml'), 'utf8')) as any).creation_rules[0];
    assert.ok(new RegExp(rule.path_regex).test('images/e2.sops.yaml'));
    const encrypted = new RegExp(rule.encrypted_regex);
    assert.deepEqual(
      ['access_key', 'secret_key', 'endpoint', 'bucket'].map((k) => encrypted.test(k)),
      [true, true, false, false],
    );
    for (const r of rule.key_groups[0].age) assert.match(r, /^age1[0-9a-z]{58}$/);
    assert.deepEqual(Object.keys(parse(readFileSync(join(EXAMPLE, 'images', 'e2.example.yaml'), 'utf8'))), ['access_key', 'secret_key', 'endpoint', 'bucket']);
  });
});

const talosRaw = diskImage(2 * 1024 * 1024, 61);
const talosXz = compress(talosRaw, 'xz');
let server: TestServer;
let rgw: Rgw | undefined;
let bucket: string | undefined;
let scratch: string;
let tarball: string;

describe('the GitOps example, run', { concurrency: false }, () => {
  before(async () => {
    server = await startHttpsServer({ '/talos/metal-amd64.raw.xz': { body: talosXz } });
    scratch = tempDir('ingot-gitops-');
    // The tarball a user would make with `npm pack` (dist/ is built already).
    const packed = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', scratch], { cwd: ROOT, encoding: 'utf8' });
    tarball = join(scratch, packed.trim().split('\n').pop()!);
  });
  after(async () => {
    await server.close();
    if (rgw && bucket) await dropBucket(rgw, bucket).catch(() => undefined);
  });

  it('push, manual runs with prune: false, prune: true and force: true: the run: steps against RGW', async (t) => {
    if (!needTool(t, 'packer') || !needTool(t, 'age', 'age') || !needTool(t, 'age-keygen', 'age')) return;
    rgw = await needRgw(t);
    if (!rgw) return;
    bucket = await freshBucket(rgw, 'lab-images');
    const repo = join(scratch, 'repo');
    cpSync(EXAMPLE, repo, { recursive: true, filter: (src) => !/\/(\.ingot|output)(\/|$)/.test(src) });
    mkdirSync(join(repo, '.git'));
    const manifestFile = join(repo, 'images', 'images.yaml');
    writeFileSync(
      manifestFile,
      `${readFileSync(manifestFile, 'utf8')}
    - name: talos-1.9.1
      source:
        type: http
        url: ${server.url('/talos/metal-amd64.raw.xz')}
        checksum: ${sha256(talosXz)}
        decompress: xz
      destination:
        path: talos/talos-1.9.1-amd64.raw
      validation:
        expected: ${sha256(talosRaw)}
`,
    );
    // images/e2.sops.yaml: e2.example.yaml's keys with this RGW's values, encrypted as .sops.yaml says.
    const age = await ageKeygen();
    const shape = parse(readFileSync(join(repo, 'images', 'e2.example.yaml'), 'utf8')) as Record<string, string>;
    const values: Record<string, string> = { access_key: rgw.accessKey, secret_key: rgw.secretKey, endpoint: rgw.endpoint, bucket };
    const rule = (parse(readFileSync(join(repo, 'images', '.sops.yaml'), 'utf8')) as any).creation_rules[0];
    writeFileSync(
      join(repo, 'images', 'e2.sops.yaml'),
      await writeSops(Object.fromEntries(Object.keys(shape).map((k) => [k, values[k]!])), [age.recipient], 'yaml', { encryptedRegex: rule.encrypted_regex }),
    );

    const npmPrefix = join(scratch, 'npm-global');
    const runnerTemp = join(scratch, 'runner-temp');
    mkdirSync(runnerTemp, { recursive: true });
    const baseEnv: NodeJS.ProcessEnv = {
      PATH: [join(npmPrefix, 'bin'), dirname(process.execPath), process.env.PATH].join(':'),
      HOME: process.env.HOME,
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      GITHUB_WORKSPACE: repo,
      RUNNER_TEMP: runnerTemp,
      npm_config_prefix: npmPrefix,
      // A runner's own npm settings (a registry mirror, its CA file) live in the global npmrc, which
      // npm looks for under the prefix: moving the prefix must not lose them.
      npm_config_globalconfig: execFileSync('npm', ['config', 'get', 'globalconfig'], { encoding: 'utf8' }).trim(),
      npm_config_prefer_offline: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      NODE_EXTRA_CA_CERTS: server.caCertFile,
    };
    const run = async (event: string, inputs: Record<string, unknown>): Promise<StepResult[]> => {
      const results = await runJob({
        workflow,
        job: 'sync',
        contexts: { secrets: { SOPS_AGE_KEY: age.keyFile }, inputs, github: { event_name: event, ref: 'refs/heads/main' } },
        cwd: repo,
        baseEnv: { ...baseEnv, GITHUB_EVENT_NAME: event },
        overrides: { INGOT_PACKAGE: tarball },
        scratch,
      });
      for (const r of results)
        assert.ok(!r.ran || r.kind === 'uses' || r.code === 0, `${event}: step "${r.name}" failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
      assert.ok(!existsSync(join(runnerTemp, 'age-key.txt')), 'the age key is removed');
      return results;
    };
    const out = (results: StepResult[], name: string) => {
      const r = results.find((x) => x.name === name);
      assert.ok(r?.ran, `step "${name}" did not run`);
      return r.stdout;
    };
    const ran = (results: StepResult[]) => results.filter((r) => r.ran).map((r) => r.name);

    // A push: everything but the prune.
    const push = await run('push', {});
    assert.deepEqual(
      ran(push),
      steps.filter((s) => s.name !== 'Prune orphaned images').map((s) => s.name!),
    );
    assert.ok(existsSync(join(npmPrefix, 'bin', 'ingot')), 'the install step put ingot on PATH');
    assert.match(
      out(push, 'Show the store'),
      new RegExp(`store: s3://${bucket}\\?endpoint=.* \\(bucket and endpoint from SOPS file images/e2\\.sops\\.yaml\\)`),
    );
    assert.match(out(push, 'Sync images'), /3 published, 0 up to date, 0 failed/);
    assert.deepEqual(await keys(rgw, bucket), [
      'images/gateway/gateway.raw',
      'images/ipxe/lab.ipxe',
      'images/talos/talos-1.9.1-amd64.raw',
      'metadata/gateway/gateway.raw.json',
      'metadata/ipxe/lab.ipxe.json',
      'metadata/talos/talos-1.9.1-amd64.raw.json',
    ]);

    // The manifest drops lab-ipxe. A manual run without prune keeps it in the bucket.
    const text = readFileSync(manifestFile, 'utf8');
    const without = text.replace(/ {4}# PXE entry point[\s\S]*?path: ipxe\/lab\.ipxe\n/, '');
    assert.notEqual(without, text);
    writeFileSync(manifestFile, without);
    const manual = await run('workflow_dispatch', { force: false, prune: false });
    assert.ok(!ran(manual).includes('Prune orphaned images'));
    assert.match(out(manual, 'Sync images'), /0 published, 2 up to date, 0 failed/);
    assert.ok((await keys(rgw, bucket)).includes('images/ipxe/lab.ipxe'));

    // prune: true deletes it for real.
    const pruning = await run('workflow_dispatch', { force: false, prune: true });
    assert.match(out(pruning, 'Prune orphaned images'), /removed ipxe\/lab\.ipxe/);
    const left = await keys(rgw, bucket);
    assert.ok(!left.some((k) => k.includes('lab.ipxe')), left.join(', '));
    assert.equal(left.length, 4);

    // force: true re-publishes everything, the download included.
    const downloads = server.count('/talos/metal-amd64.raw.xz', 'GET');
    const forced = await run('workflow_dispatch', { force: true, prune: false });
    assert.match(out(forced, 'Sync images'), /talos-1\.9\.1 +republish +published/);
    assert.match(out(forced, 'Sync images'), /gateway +republish +published/);
    assert.equal(server.count('/talos/metal-amd64.raw.xz', 'GET'), downloads + 1);
  });

  it('run.sh rehearses the pipeline offline into a local directory', (t) => {
    if (!needTool(t, 'packer')) return;
    const copy = join(scratch, 'rehearsal');
    cpSync(EXAMPLE, copy, { recursive: true, filter: (src) => !/\/(\.ingot|output)(\/|$)/.test(src) });
    const store = join(scratch, 'rehearsal-store');
    const r = spawnSync('sh', [join(copy, 'run.sh')], {
      cwd: scratch,
      env: {
        PATH: [dirname(process.execPath), process.env.PATH].join(':'),
        HOME: process.env.HOME,
        STORE: store,
        INGOT: `node ${join(ROOT, 'dist', 'src', 'bin.js')}`,
      },
      encoding: 'utf8',
      timeout: 300_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /== sync again: nothing to do[\s\S]*0 published, 2 up to date, 0 failed/);
    assert.match(r.stdout, /store: .*rehearsal-store \(--store\)/);
    assert.deepEqual(readdirSync(join(store, 'images'), { recursive: true }).map(String).sort(), ['gateway', 'gateway/gateway.raw', 'ipxe', 'ipxe/lab.ipxe']);
  });
});

async function keys(r: Rgw, b: string): Promise<string[]> {
  const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  const client = await rgwClient(r);
  try {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: b }));
    return (listed.Contents ?? [])
      .map((o) => o.Key!)
      .filter((k) => k !== '.ingot-lock')
      .sort();
  } finally {
    client.destroy();
  }
}
