import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { run } from '../../src/exec/run.js';
import { bumpVersion, checkVersions, loadVersions } from '../../src/provision/versions.js';
import { testCa } from '../helpers/tls.js';
import { needTool, requireTools } from '../helpers/tools.js';
import { which } from '../../src/exec/which.js';

const artifacts: Record<string, Buffer> = {
  '/dl/v1.0.0/tool-1.0.0.tar.gz': Buffer.from('tool one point oh\n'.repeat(1000)),
  '/dl/v1.1.0/tool-1.1.0.tar.gz': Buffer.from('tool one point one\n'.repeat(1000)),
  '/elsewhere/tool-2.0.0.tgz': Buffer.from('tool two\n'),
  '/other.bin': Buffer.from('other\n'),
};
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const repoRoot = path.resolve(import.meta.dirname, '../..');

describe('versions check and bump over https with a throwaway CA', { skip: !which('openssl') && !requireTools ? 'openssl not installed' : false }, () => {
  let dir: string;
  let server: Server;
  let base: string;
  let ca: string;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ingot-versions-'));
    const tls = testCa();
    ca = tls.caCert;
    server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
      const body = artifacts[req.url ?? ''];
      if (!body) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  const versionsText = () => `# Pins for the test.
kind: Versions
pins:
  # the tool we bump
  tool:
    version: 1.0.0 # current
    url: ${base}/dl/v1.0.0/tool-1.0.0.tar.gz
    sha256: ${sha(artifacts['/dl/v1.0.0/tool-1.0.0.tar.gz']!)}
    fingerprint: AAAA
  # stays as it is
  other:
    version: "3"
    url: ${base}/other.bin
    sha256: ${sha(artifacts['/other.bin']!)}
`;

  test('check: ok, mismatch and error per pin', async () => {
    const file = path.join(dir, 'check.yaml');
    await writeFile(
      file,
      `${versionsText().replace(sha(artifacts['/other.bin']!), 'f'.repeat(64))}  gone:\n    version: "1"\n    url: ${base}/missing\n    sha256: ${'e'.repeat(64)}\n`,
    );
    const results = await checkVersions(await loadVersions(file), { http: { ca, retries: 0 } });
    assert.deepEqual(
      results.map((r) => [r.name, r.status]),
      [
        ['tool', 'ok'],
        ['other', 'mismatch'],
        ['gone', 'error'],
      ],
    );
    const mismatch = results[1]!;
    assert.equal(mismatch.status === 'mismatch' && mismatch.actual, sha(artifacts['/other.bin']!));
  });

  test('a pin waiting for its digest (sha256: null) loads, is reported UNPINNED with the real digest', async () => {
    const file = path.join(dir, 'unpinned.yaml');
    await writeFile(file, versionsText().replace(`sha256: ${sha(artifacts['/other.bin']!)}`, 'sha256: null # not known yet'));
    const versions = await loadVersions(file);
    assert.equal(versions.pins.get('other')!.sha256, undefined);
    const results = await checkVersions(versions, { http: { ca, retries: 0 } });
    assert.deepEqual(
      results.map((r) => [r.name, r.status]),
      [
        ['tool', 'ok'],
        ['other', 'unpinned'],
      ],
    );
    assert.equal(results[1]!.status === 'unpinned' && results[1]!.actual, sha(artifacts['/other.bin']!));
    await assert.rejects(
      loadVersions(await writeTemp('kind: Versions\npins:\n  x:\n    version: "1"\n    url: https://e.org/x\n    sha256: abc\n')),
      /64 lowercase hex digits \(or null/,
    );
  });

  const writeTemp = async (text: string) => {
    const file = path.join(dir, `t-${Math.random().toString(16).slice(2)}.yaml`);
    await writeFile(file, text);
    return file;
  };

  test('bump derives the URL, computes the digest, keeps comments and order', async () => {
    const file = path.join(dir, 'bump.yaml');
    const before = versionsText();
    await writeFile(file, before);
    const result = await bumpVersion(file, 'tool', '1.1.0', { http: { ca } });
    const newSha = sha(artifacts['/dl/v1.1.0/tool-1.1.0.tar.gz']!);
    assert.equal(result.to.sha256, newSha);
    assert.equal(result.to.url, `${base}/dl/v1.1.0/tool-1.1.0.tar.gz`);
    const after = await readFile(file, 'utf8');
    const expected = before
      .replace('version: 1.0.0 # current', 'version: 1.1.0 # current')
      .replace(`${base}/dl/v1.0.0/tool-1.0.0.tar.gz`, `${base}/dl/v1.1.0/tool-1.1.0.tar.gz`)
      .replace(sha(artifacts['/dl/v1.0.0/tool-1.0.0.tar.gz']!), newSha);
    assert.equal(after, expected, 'only the three values changed; comments, quotes and order kept');
    const check = await checkVersions(await loadVersions(file), { http: { ca } });
    assert.ok(check.every((r) => r.status === 'ok'));
  });

  test('bump with --url, through the CLI in a child with NODE_EXTRA_CA_CERTS', async (t) => {
    if (!needTool(t, 'openssl')) return;
    const file = path.join(dir, 'cli.yaml');
    await writeFile(file, versionsText());
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: testCa().caCertFile };
    const cli = (args: string[]) =>
      run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/bin.ts'), ...args], { cwd: repoRoot, env, reject: false, timeoutMs: 60_000 });
    const bumped = await cli(['versions', 'bump', 'tool', '2.0.0', '--url', `${base}/elsewhere/tool-2.0.0.tgz`, '--versions', file, '--json']);
    assert.equal(bumped.exitCode, 0, bumped.stderr);
    assert.equal(JSON.parse(bumped.stdout).to.sha256, sha(artifacts['/elsewhere/tool-2.0.0.tgz']!));
    assert.match(await readFile(file, 'utf8'), /# the tool we bump\n {2}tool:\n {4}version: 2\.0\.0 # current\n/);
    const ok = await cli(['versions', 'check', '--versions', file]);
    assert.equal(ok.exitCode, 0, ok.stderr);
    assert.match(ok.stdout, /^ok +tool/m);
    const untrusted = await run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/bin.ts'), 'versions', 'check', '--versions', file], {
      cwd: repoRoot,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: '' },
      reject: false,
      timeoutMs: 60_000,
    });
    assert.equal(untrusted.exitCode, 1, 'without the CA the TLS handshake fails');
    assert.match(untrusted.stdout, /^ERROR +tool/m);
  });

  test('bump refuses when the URL cannot be derived', async () => {
    const file = path.join(dir, 'underive.yaml');
    await writeFile(file, versionsText().replace('/dl/v1.0.0/tool-1.0.0.tar.gz', '/latest.tgz'));
    await assert.rejects(bumpVersion(file, 'tool', '1.1.0', { http: { ca } }), /pass --url|does not contain/);
    await assert.rejects(bumpVersion(file, 'nope', '1', { http: { ca } }), /no pin named "nope"/);
  });
});
