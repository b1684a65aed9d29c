// Which store a command uses, and why: the precedence table of docs/stores.md, row by row.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { ErrorCode, IngotError } from '../../src/errors.js';
import { chooseStore, type ChooseStoreInput } from '../../src/store/choose.js';
import { ageKeygen, writeSops } from '../credentials/sops-writer.js';
import { needTool } from '../helpers/tools.js';

const dir = await mkdtemp(path.join(tmpdir(), 'ingot-choose-'));
after(() => rm(dir, { recursive: true, force: true }));
const manifest = { file: path.join(dir, 'images', 'images.yaml'), dir: path.join(dir, 'images') };
const base: ChooseStoreInput = { cwd: dir, env: { HOME: dir }, manifest, display: (f) => path.relative(dir, f) };
const e2 = { E2_ACCESS_KEY: 'AKIA-e2', E2_SECRET_KEY: 'e2-secret-value', E2_ENDPOINT: 'https://e2.example.net', E2_BUCKET: 'lab-images' };

const conflict = (e: unknown) => {
  assert.ok(e instanceof IngotError, String(e));
  assert.equal(e.code, ErrorCode.storeConflict);
  assert.equal(e.exitCode, 2);
  assert.ok(!JSON.stringify(e.toJSON()).includes('e2-secret-value'), 'a secret in the error');
  return true;
};

test('nothing configured: .ingot/store beside the manifest, saying so', async () => {
  const c = await chooseStore(base);
  assert.equal(c.origin, 'default');
  assert.equal(c.url, path.join(manifest.dir, '.ingot', 'store'));
  assert.match(c.reason, /^default: \.ingot\/store beside images\/images\.yaml; no --store, spec\.store\.url or bucket in the credentials$/);
  // Ambient AWS keys are not a request for S3.
  assert.equal((await chooseStore({ ...base, env: { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 's' } })).origin, 'default');
});

test('E2_* with endpoint and bucket selects the S3 store, with region', async () => {
  const c = await chooseStore({ ...base, env: { ...e2, E2_REGION: 'us-west-2' } });
  assert.equal(c.origin, 'credentials');
  assert.equal(c.url, 's3://lab-images?endpoint=https://e2.example.net&region=us-west-2');
  assert.equal(c.reason, 'bucket from E2_BUCKET (environment), endpoint from E2_ENDPOINT (environment), region from E2_REGION (environment)');
  assert.equal(c.credentials?.accessKeyId, 'AKIA-e2', 'resolved once, handed to the backend');
});

test('INGOT_S3_BUCKET without an endpoint: AWS S3', async () => {
  const c = await chooseStore({ ...base, env: { INGOT_S3_ACCESS_KEY: 'a', INGOT_S3_SECRET_KEY: 's', INGOT_S3_BUCKET: 'my-bucket' } });
  assert.equal(c.url, 's3://my-bucket');
  assert.equal(c.reason, 'bucket from INGOT_S3_BUCKET (environment), no endpoint (AWS S3)');
});

test('--store and spec.store.url win over the credentials; a bucket they override is a warning', async () => {
  const flag = await chooseStore({ ...base, env: e2, flag: 's3://other-bucket?endpoint=https://h' });
  assert.equal(flag.origin, 'flag');
  assert.match(flag.warnings.join('\n'), /E2_BUCKET \(environment\) names bucket "lab-images", but --store wins/);
  const spec = await chooseStore({ ...base, env: e2, manifest: { ...manifest, storeUrl: 's3://lab-images?endpoint=https://e2.example.net' } });
  assert.equal(spec.origin, 'manifest');
  assert.equal(spec.reason, 'spec.store.url in images/images.yaml');
  assert.deepEqual(spec.warnings, []);
});

test('credentials with a local directory store: exit 2 naming the store and every credential source', async () => {
  await assert.rejects(chooseStore({ ...base, env: e2, flag: './pub' }), (e) => {
    conflict(e);
    const m = (e as Error).message;
    assert.match(m, /store: --store \(\.\/pub, a local directory\)/);
    assert.match(m, /credentials: E2_ACCESS_KEY, E2_SECRET_KEY, E2_ENDPOINT, E2_BUCKET \(environment\)/);
    return true;
  });
  await assert.rejects(chooseStore({ ...base, env: e2, manifest: { ...manifest, storeUrl: 'file:///srv/images' } }), (e) => {
    conflict(e);
    assert.match((e as Error).message, /spec\.store\.url in images\/images\.yaml \(file:\/\/\/srv\/images, a local directory\)/);
    return true;
  });
  // Keys but no bucket, and nothing else: the silent fall-back to .ingot/store is refused.
  await assert.rejects(chooseStore({ ...base, env: { E2_ACCESS_KEY: 'a', E2_SECRET_KEY: 'e2-secret-value' } }), (e) => {
    conflict(e);
    assert.match((e as Error).message, /name no bucket/);
    assert.match((e as Error).message, /store: default: \.ingot\/store beside images\/images\.yaml/);
    assert.match(String((e as IngotError).hint), /E2_BUCKET/);
    return true;
  });
});

test('a SOPS file shaped like e2.sops.yaml: its endpoint and bucket select the store', async (t) => {
  if (!needTool(t, 'age', 'age') || !needTool(t, 'age-keygen', 'age')) return;
  const key = await ageKeygen();
  const keyFile = path.join(dir, 'age.txt');
  await writeFile(keyFile, key.keyFile);
  const file = path.join(dir, 'images', 'e2.sops.yaml');
  await rm(path.dirname(file), { recursive: true, force: true });
  await import('node:fs/promises').then((fs) => fs.mkdir(path.dirname(file), { recursive: true }));
  await writeFile(file, await writeSops({ access_key: 'AK', secret_key: 'SK', endpoint: 'https://e2.idrive.com', bucket: 'lab-images' }, [key.recipient]));
  const c = await chooseStore({ ...base, credentialsFile: file, ageKeyFile: keyFile });
  assert.equal(c.url, 's3://lab-images?endpoint=https://e2.idrive.com');
  assert.equal(c.reason, 'bucket and endpoint from SOPS file images/e2.sops.yaml');
  // The same file with a local --store is refused, naming the file.
  await assert.rejects(chooseStore({ ...base, credentialsFile: file, ageKeyFile: keyFile, flag: 'out' }), (e) => {
    conflict(e);
    assert.match((e as Error).message, /--credentials images\/e2\.sops\.yaml/);
    return true;
  });
});

test('ingot doctor prints the store and why; a conflict exits 2 with both sources', async () => {
  const { runCli, writeManifest } = await import('../helpers/fixtures.js');
  const work = path.join(dir, 'doctor');
  writeManifest(work, []);
  const env = { E2_ACCESS_KEY: 'a', E2_SECRET_KEY: 'e2-secret-value', E2_ENDPOINT: 'https://e2.example.net', E2_BUCKET: 'lab-images', HOME: dir };
  const ok = await runCli(['doctor', '--json'], { cwd: work, env });
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(JSON.parse(ok.stdout).store, {
    url: 's3://lab-images?endpoint=https://e2.example.net',
    origin: 'credentials',
    reason: 'bucket from E2_BUCKET (environment), endpoint from E2_ENDPOINT (environment)',
    warnings: [],
  });
  const text = await runCli(['doctor'], { cwd: work, env: { HOME: dir } });
  assert.match(
    text.stdout,
    /^store: .*\.ingot\/store \(default: \.ingot\/store beside images\.yaml; no --store, spec\.store\.url or bucket in the credentials\)$/m,
  );
  const bad = await runCli(['doctor', '--store', 'pub'], { cwd: work, env });
  assert.equal(bad.code, 2);
  assert.match(
    bad.stdout,
    /store: cannot be chosen: S3 credentials were given but the store is a local directory\n\s+store: --store \(pub, a local directory\)\n\s+credentials: E2_ACCESS_KEY, E2_SECRET_KEY, E2_ENDPOINT, E2_BUCKET \(environment\)/,
  );
  assert.ok(!(bad.stdout + bad.stderr).includes('e2-secret-value'));
});
