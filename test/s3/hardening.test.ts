// Issue 17 (5, 6): plain http:// S3 endpoints are refused unless loopback or explicitly allowed;
// bounded reads on a real RGW.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { test } from 'node:test';
import type { IngotError } from '../../src/errors.js';
import { scrub } from '../../src/log/logger.js';
import { openBackend } from '../../src/store/open.js';
import { checkEndpointTransport, isLoopbackHost } from '../../src/store/s3-url.js';
import { dropBucket, freshBucket, needRgw, rgwEnv, rgwStoreUrl } from '../helpers/rgw.js';
import { runCli } from '../helpers/fixtures.js';

test('loopback hosts: 127.0.0.0/8, ::1 and localhost only', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '[::1]', '::1', 'localhost', 'LOCALHOST']) assert.equal(isLoopbackHost(h), true, h);
  for (const h of ['128.0.0.1', '10.0.0.1', 'localhost.example.org', 'evil-localhost', '127.0.0.1.nip.io', '[::ffff:7f00:1]x', '0.0.0.0'])
    assert.equal(isLoopbackHost(h), false, h);
});

const transport: { endpoint: string; allow?: boolean; ok: boolean; warns?: boolean }[] = [
  { endpoint: 'https://s3.example.org', ok: true },
  { endpoint: 'http://127.0.0.1:7480', ok: true },
  { endpoint: 'http://localhost:9000', ok: true },
  { endpoint: 'http://[::1]:9000', ok: true },
  { endpoint: 'http://s3.example.org', ok: false },
  { endpoint: 'http://10.1.2.3:7480', ok: false },
  { endpoint: 'http://s3.example.org', allow: true, ok: true, warns: true },
];

for (const row of transport) {
  test(`endpoint ${row.endpoint}${row.allow ? ' with --allow-insecure-endpoint' : ''}: ${row.ok ? 'accepted' : 'refused'}`, () => {
    const warnings: string[] = [];
    const check = () => checkEndpointTransport(row.endpoint, { allowInsecure: row.allow, warn: (m) => void warnings.push(m) });
    if (row.ok) check();
    else assert.throws(check, (e: IngotError) => e.code === 'INGOT_HTTP_INSECURE' && e.exitCode === 2 && /--allow-insecure-endpoint/.test(e.hint ?? ''));
    assert.equal(warnings.length > 0, row.warns === true);
  });
}

test('the CLI refuses a non-loopback http:// endpoint before reading credentials; the flag and the variable allow it, with a warning', async (t) => {
  const ip = Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
  if (!ip) return t.skip('no non-loopback IPv4 address on this machine');
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    req.resume();
    res.writeHead(404, { 'content-type': 'application/xml' });
    res.end('<?xml version="1.0"?><Error><Code>NoSuchBucket</Code><Message>no</Message></Error>');
  });
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const endpoint = `http://${ip}:${(server.address() as AddressInfo).port}`;
  const url = `s3://some-bucket/p?endpoint=${endpoint}&region=us-east-1`;
  const env = { INGOT_S3_ACCESS_KEY: 'AKIAEXAMPLE0000', INGOT_S3_SECRET_KEY: 'example-secret-000' };

  const refused = await runCli(['list', '--store', url], { env });
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /INGOT_HTTP_INSECURE/);
  assert.equal(requests, 0, 'no request was sent');
  // The same endpoint from the credentials' environment is refused too.
  const fromEnv = await runCli(['list', '--store', 's3://some-bucket/p?region=us-east-1'], { env: { ...env, INGOT_S3_ENDPOINT: endpoint } });
  assert.equal(fromEnv.code, 2, fromEnv.stderr);
  assert.match(fromEnv.stderr, /INGOT_HTTP_INSECURE/);
  assert.equal(requests, 0);

  for (const allow of [
    { args: ['--allow-insecure-endpoint'], env: {} },
    { args: [], env: { INGOT_ALLOW_INSECURE_ENDPOINT: '1' } },
  ]) {
    const allowed = await runCli(['list', '--store', url, ...allow.args], { env: { ...env, ...allow.env } });
    assert.match(allowed.stderr, /WARN .*plain http/, allowed.stderr);
    assert.match(allowed.stderr, /INGOT_STORE_NOT_FOUND/, 'it went on to talk to the endpoint');
  }
  assert.ok(requests > 0);
});

test('the scrubber catches a secret as written, JSON-escaped and percent-encoded', () => {
  const secret = 'a/b+c="d"\\e';
  const line = `raw ${secret} json ${JSON.stringify(secret)} url ${encodeURIComponent(secret)} both ${JSON.stringify(encodeURIComponent(secret))}`;
  const out = scrub(line, [secret]);
  for (const form of [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)]) assert.ok(!out.includes(form), out);
});

test('S3: reads of small objects are bounded (INGOT_OBJECT_TOO_LARGE), on a real RGW', async (t) => {
  const rgw = await needRgw(t);
  if (!rgw) return;
  const bucket = await freshBucket(rgw, 'ingot-bounded');
  t.after(() => dropBucket(rgw, bucket));
  const store = await openBackend(rgwStoreUrl(rgw, bucket, 'p'), { baseDir: '/', env: rgwEnv(rgw) });
  t.after(() => store.close());
  const body = randomBytes(300 * 1024);
  await store.put('index.json', body);
  assert.equal((await store.get('index.json', undefined, { maxBytes: body.length }))?.equals(body), true);
  await assert.rejects(
    store.get('index.json', undefined, { maxBytes: 100 * 1024 }),
    (e: IngotError) => e.code === 'INGOT_OBJECT_TOO_LARGE' && /index\.json/.test(e.message),
  );
  assert.equal(await store.get('absent.json', undefined, { maxBytes: 10 }), undefined);
});
