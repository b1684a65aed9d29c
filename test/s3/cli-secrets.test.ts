// No secret reaches output: the real CLI against RGW, --json, JSON logs and --debug, on success and on failure.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ageKeygen, writeSops } from '../credentials/sops-writer.js';
import { dropBucket, freshBucket, needRgw, rgwStoreUrl } from '../helpers/rgw.js';
import { needTool } from '../helpers/tools.js';

const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'bin.ts');

async function ingot(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  try {
    const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', bin, ...args], { env: { PATH: process.env.PATH, ...env }, timeout: 60_000 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

test('ingot list with wrong, then SOPS credentials: exit codes right, no secret in any output', async (t) => {
  if (!needTool(t, 'age', 'age') || !needTool(t, 'age-keygen', 'age')) return;
  const rgw = await needRgw(t);
  if (!rgw) return;
  const dir = await mkdtemp(path.join(tmpdir(), 'ingot-cli-secrets-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const bucket = await freshBucket(rgw, 'ingot-cli');
  t.after(() => dropBucket(rgw, bucket));
  const url = rgwStoreUrl(rgw, bucket);
  const quiet = { HOME: dir, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  const flags = ['--json', '--log-format', 'json', '--debug'];

  const wrong = 'WrongSecretValue-0123456789';
  const denied = await ingot(['list', '--store', url, ...flags], { ...quiet, INGOT_S3_ACCESS_KEY: rgw.accessKey, INGOT_S3_SECRET_KEY: wrong });
  assert.equal(denied.code, 1, denied.out);
  assert.match(denied.out, /INGOT_STORE_AUTH/);
  assert.ok(!denied.out.includes(wrong), 'the wrong secret is not echoed');
  assert.ok(!denied.out.includes(rgw.secretKey));

  const key = await ageKeygen();
  await writeFile(path.join(dir, 'key.txt'), key.keyFile);
  await writeFile(path.join(dir, 'creds.sops.yaml'), await writeSops({ access_key: rgw.accessKey, secret_key: rgw.secretKey }, [key.recipient]));
  const ok = await ingot(['list', '--store', url, '--credentials', path.join(dir, 'creds.sops.yaml'), ...flags], {
    ...quiet,
    SOPS_AGE_KEY_FILE: path.join(dir, 'key.txt'),
  });
  assert.equal(ok.code, 0, ok.out);
  assert.ok(!ok.out.includes(rgw.secretKey), 'the secret from the SOPS file is not shown');
  assert.ok(!ok.out.includes(key.identity), 'the age identity is not shown');

  const missing = await ingot(['list', '--store', url, ...flags], quiet);
  assert.equal(missing.code, 2, missing.out);
  assert.match(missing.out, /INGOT_CREDENTIALS_MISSING/);
});
