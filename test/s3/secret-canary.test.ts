// Issue 17 (6): no secret reaches any output at any log level. Every command that touches credentials runs
// against an S3 endpoint that echoes the request (Authorization, x-amz-security-token, the access key id) in
// its error body, with --debug in both log formats (and --json), for every credential source; all output is
// grepped for the canaries. Growable: add a command to `commands` or a source to `sources`.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ageKeygen, writeSops } from '../credentials/sops-writer.js';
import { runCli, sha256, tempDir, writeManifest } from '../helpers/fixtures.js';
import { requireTools } from '../helpers/tools.js';
import { which } from '../../src/exec/which.js';

const ACCESS = 'AKIACANARYACCESS0123';
const SECRET = 'secret/Canary+Value=0123456789abcdef';
const TOKEN = 'token/Canary+Session==Value0123456789xyz';
const PASSWORD = 'canary signing password 0123';

interface Seen {
  authorization?: string;
  token?: string;
  url?: string;
}

const seen: Seen[] = [];
let endpoint = '';
let closeServer: () => Promise<void> = async () => undefined;
let dir = '';
let ageIdentity = '';
let sopsFile = '';

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A hostile S3 endpoint: every request is answered 400 with the request's credentials in the body. */
async function startEcho(): Promise<void> {
  const server = createServer((req: IncomingMessage, res) => {
    req.resume();
    req.on('end', () => {
      const s: Seen = { authorization: req.headers.authorization, token: req.headers['x-amz-security-token'] as string | undefined, url: req.url };
      seen.push(s);
      const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidArgument</Code><Message>echo: Authorization=${xml(s.authorization ?? '')} x-amz-security-token=${xml(s.token ?? '')} key-id=${xml(/Credential=([^/]+)/.exec(s.authorization ?? '')?.[1] ?? '')} url=${xml(s.url ?? '')}</Message><RequestId>echo-1</RequestId></Error>`;
      res.writeHead(400, { 'content-type': 'application/xml', 'x-amz-request-id': 'echo-1', 'x-echo-authorization': s.authorization ?? '' });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closeServer = () => new Promise((resolve) => server.close(() => resolve()));
}

const storeUrl = () => `s3://canary-bucket/p?endpoint=${endpoint}&region=us-east-1`;

interface Source {
  name: string;
  env: () => NodeJS.ProcessEnv;
  args: () => string[];
  /** Secrets this source brings. */
  canaries: () => string[];
}

const sources: Source[] = [
  {
    name: 'INGOT_S3_* with a session token',
    env: () => ({ INGOT_S3_ACCESS_KEY: ACCESS, INGOT_S3_SECRET_KEY: SECRET, INGOT_S3_SESSION_TOKEN: TOKEN }),
    args: () => [],
    canaries: () => [ACCESS, SECRET, TOKEN],
  },
  {
    name: 'AWS_* with a session token',
    env: () => ({ AWS_ACCESS_KEY_ID: ACCESS, AWS_SECRET_ACCESS_KEY: SECRET, AWS_SESSION_TOKEN: TOKEN }),
    args: () => [],
    canaries: () => [ACCESS, SECRET, TOKEN],
  },
  {
    name: 'a SOPS file, age key in SOPS_AGE_KEY',
    env: () => ({ SOPS_AGE_KEY: ageIdentity }),
    args: () => ['--credentials', sopsFile],
    canaries: () => [ACCESS, SECRET, TOKEN, ageIdentity],
  },
];

interface Cmd {
  name: string;
  args: () => string[];
}

const signing = () => ['--signing-key', join(dir, 'keys', 'ingot.key')];
const commands: Cmd[] = [
  { name: 'sync', args: () => ['sync', '-m', join(dir, 'images.yaml'), '--store', storeUrl(), ...signing()] },
  { name: 'list', args: () => ['list', '--store', storeUrl()] },
  { name: 'verify', args: () => ['verify', '--store', storeUrl()] },
  { name: 'pull', args: () => ['pull', 'x.raw', '--store', storeUrl(), '--to', join(dir, 'cache'), '--public-key', join(dir, 'keys', 'ingot.pub')] },
  { name: 'prune', args: () => ['prune', '-m', join(dir, 'images.yaml'), '--store', storeUrl()] },
  { name: 'sign', args: () => ['sign', '--store', storeUrl(), ...signing()] },
  { name: 'channel set', args: () => ['channel', 'set', 'os', 'stable', '1', '--store', storeUrl(), ...signing()] },
  { name: 'channel list', args: () => ['channel', 'list', '--store', storeUrl(), '--public-key', join(dir, 'keys', 'ingot.pub')] },
  { name: 'channel rollback', args: () => ['channel', 'rollback', 'os', 'stable', '--store', storeUrl(), ...signing()] },
];

const formats: { name: string; flags: string[] }[] = [
  { name: 'text logs', flags: ['--debug', '--log-format', 'text'] },
  { name: 'json logs + --json', flags: ['--debug', '--log-format', 'json', '--json'] },
];

describe('secret canaries against an echoing S3 endpoint', () => {
  let skip: string | undefined;
  before(async () => {
    if (!which('age-keygen') || !which('age')) {
      if (requireTools) throw new Error('age not installed; INGOT_REQUIRE_TOOLS=1');
      skip = 'age not installed';
      return;
    }
    await startEcho();
    dir = tempDir('ingot-canary-');
    writeFileSync(join(dir, 'pw'), `${PASSWORD}\n`);
    const gen = await runCli(['keys', 'generate', '--out', join(dir, 'keys'), '--password-file', join(dir, 'pw'), '--kdf', 'interactive']);
    assert.equal(gen.code, 0, gen.stderr);
    const bytes = Buffer.from('payload\n');
    writeFileSync(join(dir, 'x.raw'), bytes);
    writeManifest(dir, [
      { name: 'x', family: 'os', version: '1', source: { type: 'file', path: 'x.raw', checksum: sha256(bytes) }, destination: { path: 'x.raw' } },
    ]);
    const age = await ageKeygen();
    ageIdentity = age.identity;
    sopsFile = join(dir, 'creds.sops.yaml');
    writeFileSync(sopsFile, await writeSops({ access_key: ACCESS, secret_key: SECRET, session_token: TOKEN }, [age.recipient]));
  });
  after(() => closeServer());

  for (const source of sources) {
    for (const cmd of commands) {
      it(`${cmd.name}, credentials from ${source.name}: no canary in any output`, async (t) => {
        if (skip) return t.skip(skip);
        for (const format of formats) {
          const before = seen.length;
          const r = await runCli([...cmd.args(), ...source.args(), ...format.flags], {
            cwd: dir,
            env: { ...source.env(), INGOT_SIGNING_PASSWORD: PASSWORD, HOME: dir, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
          });
          const output = r.stdout + r.stderr;
          const label = `${cmd.name} / ${source.name} / ${format.name}`;
          // The run reached the endpoint, which echoed the canaries back: the test means something.
          assert.ok(seen.length > before, `${label}: no request reached the echo server\n${output}`);
          assert.ok(
            seen.slice(before).some((s) => s.authorization?.includes(ACCESS)),
            `${label}: the access key id was not sent`,
          );
          assert.match(output, /InvalidArgument|echo/, `${label}: the echoed body did not reach the output\n${output}`);
          assert.ok(r.code === 1 || r.code === 2, `${label}: exit ${r.code}\n${output}`);
          assert.doesNotMatch(output, /INGOT_INTERNAL/, label);
          for (const canary of [...source.canaries(), PASSWORD]) {
            for (const form of new Set([canary, encodeURIComponent(canary), JSON.stringify(canary).slice(1, -1)])) {
              assert.ok(!output.includes(form), `${label}: "${form}" leaked:\n${output}`);
            }
          }
        }
      });
    }
  }
});
