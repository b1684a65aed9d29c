// The credentials chain: environment first (INGOT_S3_*, AWS_*, E2_*), then a SOPS file with an age key.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { credentialsGiven, resolveS3Credentials } from '../../src/credentials/chain.js';
import { ErrorCode, IngotError } from '../../src/errors.js';
import { needTool } from '../helpers/tools.js';
import { ageKeygen, writeSops } from './sops-writer.js';

const dir = await mkdtemp(path.join(tmpdir(), 'ingot-creds-'));
after(() => rm(dir, { recursive: true, force: true }));
const noHome = { HOME: dir };

test('environment: INGOT_S3_* wins over AWS_* and E2_*', async () => {
  const c = await resolveS3Credentials({
    env: { ...noHome, INGOT_S3_ACCESS_KEY: 'i-a', INGOT_S3_SECRET_KEY: 'i-s', AWS_ACCESS_KEY_ID: 'w-a', AWS_SECRET_ACCESS_KEY: 'w-s', AWS_REGION: 'eu-west-1' },
  });
  assert.deepEqual(c, { accessKeyId: 'i-a', secretAccessKey: 'i-s', region: 'eu-west-1', source: 'environment (INGOT_S3_*)' });
});

test('environment: AWS_* with a session token, then E2_* with endpoint and bucket', async () => {
  const aws = await resolveS3Credentials({
    env: { ...noHome, AWS_ACCESS_KEY_ID: 'w-a', AWS_SECRET_ACCESS_KEY: 'w-s', AWS_SESSION_TOKEN: 'tok', E2_ACCESS_KEY: 'e' },
  });
  assert.deepEqual(aws, { accessKeyId: 'w-a', secretAccessKey: 'w-s', sessionToken: 'tok', source: 'environment (AWS_*)' });
  const e2 = await resolveS3Credentials({
    env: { ...noHome, E2_ACCESS_KEY: 'e-a', E2_SECRET_KEY: 'e-s', E2_ENDPOINT: 'https://e2.example.net', E2_BUCKET: 'lab' },
  });
  assert.deepEqual(e2, {
    accessKeyId: 'e-a',
    secretAccessKey: 'e-s',
    endpoint: 'https://e2.example.net',
    bucket: 'lab',
    source: 'environment (E2_*)',
    origins: { endpoint: 'E2_ENDPOINT (environment)', bucket: 'E2_BUCKET (environment)' },
  });
});

test('location: INGOT_S3_BUCKET; what the winning source leaves out comes from the location variables', async () => {
  const ingot = await resolveS3Credentials({
    env: { ...noHome, INGOT_S3_ACCESS_KEY: 'a', INGOT_S3_SECRET_KEY: 's', INGOT_S3_BUCKET: 'b', INGOT_S3_ENDPOINT: 'https://h' },
  });
  assert.equal(ingot.bucket, 'b');
  assert.equal(ingot.origins?.bucket, 'INGOT_S3_BUCKET (environment)');
  // Keys from AWS_* (ambient), bucket and endpoint from E2_*.
  const mixed = await resolveS3Credentials({
    env: { ...noHome, AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 's', E2_BUCKET: 'lab', E2_ENDPOINT: 'https://e2' },
  });
  assert.equal(mixed.source, 'environment (AWS_*)');
  assert.deepEqual([mixed.bucket, mixed.endpoint], ['lab', 'https://e2']);
  assert.deepEqual(mixed.origins, { bucket: 'E2_BUCKET (environment)', endpoint: 'E2_ENDPOINT (environment)' });
});

test('credentialsGiven: ingot and e2 variables and --credentials count, ambient AWS_* does not; names only', () => {
  assert.deepEqual(credentialsGiven({ AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y', SOPS_AGE_KEY: 'k' }, undefined), []);
  assert.deepEqual(credentialsGiven({ E2_ACCESS_KEY: 'secret-a', E2_BUCKET: 'b', INGOT_S3_ENDPOINT: 'https://h' }, 'images/e2.sops.yaml'), [
    'INGOT_S3_ENDPOINT (environment)',
    'E2_ACCESS_KEY, E2_BUCKET (environment)',
    '--credentials images/e2.sops.yaml',
  ]);
});

test('nothing configured: one error listing every source tried, no values', async () => {
  await assert.rejects(resolveS3Credentials({ env: { ...noHome, AWS_ACCESS_KEY_ID: 'half-a-pair-value' } }), (e: unknown) => {
    assert.ok(e instanceof IngotError);
    assert.equal(e.code, ErrorCode.credentialsMissing);
    const json = JSON.stringify(e.toJSON());
    assert.match(json, /INGOT_S3_\*: not set/);
    assert.match(json, /AWS_\*: AWS_SECRET_ACCESS_KEY is not set/);
    assert.match(json, /E2_\*: not set/);
    assert.match(json, /--credentials/);
    assert.ok(!json.includes('half-a-pair-value'));
    return true;
  });
});

test('SOPS file (YAML and JSON, aws_* names) with the key from a file, SOPS_AGE_KEY_FILE or SOPS_AGE_KEY', async (t) => {
  if (!needTool(t, 'age', 'age') || !needTool(t, 'age-keygen', 'age')) return;
  const key = await ageKeygen();
  const keyFile = path.join(dir, 'keys.txt');
  await writeFile(keyFile, key.keyFile);
  const yamlFile = path.join(dir, 'creds.sops.yaml');
  await writeFile(
    yamlFile,
    await writeSops({ access_key: 'AK1', secret_key: 'SK1', endpoint: 'https://s3.example', region: 'eu-1', bucket: 'b1' }, [key.recipient]),
  );
  const jsonFile = path.join(dir, 'creds.sops.json');
  await writeFile(jsonFile, await writeSops({ AWS_ACCESS_KEY_ID: 'AK2', aws_secret_access_key: 'SK2' }, [key.recipient], 'json'));

  const viaOption = await resolveS3Credentials({ env: noHome, file: yamlFile, ageKeyFile: keyFile });
  assert.deepEqual(viaOption, {
    accessKeyId: 'AK1',
    secretAccessKey: 'SK1',
    endpoint: 'https://s3.example',
    region: 'eu-1',
    bucket: 'b1',
    source: `SOPS file ${yamlFile}`,
    origins: { endpoint: `SOPS file ${yamlFile}`, region: `SOPS file ${yamlFile}`, bucket: `SOPS file ${yamlFile}` },
  });
  const viaEnvFile = await resolveS3Credentials({ env: { ...noHome, SOPS_AGE_KEY_FILE: keyFile }, file: jsonFile });
  assert.equal(viaEnvFile.accessKeyId, 'AK2');
  assert.equal(viaEnvFile.secretAccessKey, 'SK2');
  const viaEnvKey = await resolveS3Credentials({ env: { ...noHome, SOPS_AGE_KEY: key.identity }, file: jsonFile });
  assert.equal(viaEnvKey.secretAccessKey, 'SK2');
  // The environment still wins over a file.
  const env = await resolveS3Credentials({ env: { ...noHome, INGOT_S3_ACCESS_KEY: 'x', INGOT_S3_SECRET_KEY: 'y' }, file: jsonFile });
  assert.equal(env.source, 'environment (INGOT_S3_*)');
});

test('SOPS file: no age key, a missing field, a wrong key — clear errors without secrets', async (t) => {
  if (!needTool(t, 'age', 'age') || !needTool(t, 'age-keygen', 'age')) return;
  const key = await ageKeygen();
  const wrong = await ageKeygen();
  const file = path.join(dir, 'partial.sops.yaml');
  await writeFile(file, await writeSops({ access_key: 'AK3', note: 'no secret here' }, [key.recipient]));
  await assert.rejects(resolveS3Credentials({ env: noHome, file }), (e: unknown) => {
    assert.ok(e instanceof IngotError && e.code === ErrorCode.credentialsMissing);
    assert.match(e.hint ?? '', /SOPS_AGE_KEY_FILE/);
    return true;
  });
  await assert.rejects(resolveS3Credentials({ env: { ...noHome, SOPS_AGE_KEY: key.identity }, file }), (e: unknown) => {
    assert.ok(e instanceof IngotError && e.code === ErrorCode.credentialsInvalid);
    assert.match(e.message, /has no secret_key/);
    assert.ok(!JSON.stringify(e.toJSON()).includes('AK3'));
    return true;
  });
  await assert.rejects(resolveS3Credentials({ env: { ...noHome, SOPS_AGE_KEY: wrong.identity }, file }), (e: unknown) => {
    assert.ok(e instanceof IngotError && e.code === ErrorCode.credentialsInvalid);
    assert.match(e.message, /no age identity can decrypt/);
    assert.ok(!JSON.stringify(e.toJSON()).includes(wrong.identity));
    return true;
  });
});
