/**
 * The GitOps image pipeline document (reference 004), section 7, as written:
 * its manifest goes through validate, sync --dry-run, sync, list and prune
 * against a real Ceph RGW, with e2 credentials in a SOPS file shaped like the
 * document's (access_key and secret_key encrypted, endpoint and bucket in
 * clear) and no --store: the credentials choose the store.
 *
 * What differs from the document, and why:
 *  - the placeholders `checksum: sha256:...` and `expected: sha256:...` of the
 *    talos and harvester images are filled in with the digests of the bytes
 *    this test serves (a placeholder is not a digest). The packer variable
 *    `vyos_iso_checksum: sha256:...` is left as written: only the template
 *    reads it;
 *  - the URLs stay as written. They reach a local HTTPS server through a
 *    CONNECT proxy (HTTPS_PROXY); the server's certificate, from a throwaway
 *    CA, names factory.talos.dev and releases.rancher.com, so TLS is checked;
 *  - infrastructure/network/vyos/packer holds a small template that real
 *    packer builds with the null builder and shell-local (no VyOS ISO is
 *    downloaded), writing output/vyos-lab.raw;
 *  - the update flow of section 6.3 (talos-1.9.1 → talos-1.9.2, then prune)
 *    adds a talos 1.9.2 URL in the same form.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ageKeygen, writeSops } from '../credentials/sops-writer.js';
import { compress, diskImage, runCli, sha256, tempDir } from '../helpers/fixtures.js';
import { startConnectProxy, type ConnectProxy } from '../helpers/connect-proxy.js';
import { startHttpsServer, type TestServer } from '../helpers/https-server.js';
import { dropBucket, freshBucket, needRgw, rgwClient, type Rgw } from '../helpers/rgw.js';
import { needTool } from '../helpers/tools.js';

const FIXTURE = new URL('./fixtures/004-section7-images.yaml', import.meta.url);
const REFERENCE = '004_87dcb7ae40d8a587.txt';
const TALOS_PATH = '/image/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba/v1.9.1/metal-amd64.raw.xz';
const TALOS_192_PATH = TALOS_PATH.replace('v1.9.1', 'v1.9.2');
const HARVESTER_PATH = '/harvester/v1.4.0/harvester-v1.4.0-amd64.iso';

const talosRaw = diskImage(3 * 1024 * 1024, 91);
const talosXz = compress(talosRaw, 'xz');
const talos192Raw = diskImage(3 * 1024 * 1024, 92);
const talos192Xz = compress(talos192Raw, 'xz');
const harvesterIso = diskImage(1024 * 1024, 93);

/** The packer template of infrastructure/network/vyos/packer: null builder, shell-local writes the artifact. */
const VYOS_TEMPLATE = `variable "vyos_iso_url" {
  type = string
}

variable "vyos_iso_checksum" {
  type = string
}

source "null" "vyos" {
  communicator = "none"
}

build {
  sources = ["source.null.vyos"]

  provisioner "shell-local" {
    environment_vars = ["ISO_URL=\${var.vyos_iso_url}", "ISO_CHECKSUM=\${var.vyos_iso_checksum}"]
    inline = [
      "mkdir -p output",
      "{ printf 'vyos-lab from %s (%s)\\\\n' \\"$ISO_URL\\" \\"$ISO_CHECKSUM\\"; head -c 262144 /dev/zero; } > output/vyos-lab.raw",
    ]
  }
}
`;

/** The section-7 manifest with its digest placeholders filled in (see the header). */
function filledManifest(text: string): string {
  const lines = text.split('\n');
  let image = '';
  const out = lines.map((line) => {
    const name = /^\s+- name: (\S+)/.exec(line)?.[1];
    if (name) image = name;
    if (!line.includes('sha256:...')) return line;
    if (image === 'talos-1.9.1' && /checksum:/.test(line)) return line.replace('sha256:...', sha256(talosXz));
    if (image === 'talos-1.9.1' && /expected:/.test(line)) return line.replace('sha256:...', sha256(talosRaw));
    if (image === 'harvester-1.4.0') return line.replace('sha256:...', sha256(harvesterIso));
    return line; // vyos_iso_checksum: a packer variable, left as written
  });
  return out.join('\n');
}

/** The document's own text of section 7, when the reference documents are beside the checkout. */
function referenceSection7(): string | undefined {
  for (const base of ['../../../shared/reference/', '../../../../shared/reference/']) {
    const file = new URL(base + REFERENCE, import.meta.url);
    if (!existsSync(file)) continue;
    const doc = readFileSync(file, 'utf8');
    const section = doc.slice(doc.indexOf('## 7. Example Configuration'));
    return /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  }
  return undefined;
}

let server: TestServer;
let proxy: ConnectProxy;
let rgw: Rgw | undefined;
let bucket: string | undefined;

describe('reference 004, section 7: the manifest as written, into RGW with no --store', { concurrency: false }, () => {
  before(async () => {
    server = await startHttpsServer(
      { [TALOS_PATH]: { body: talosXz }, [TALOS_192_PATH]: { body: talos192Xz }, [HARVESTER_PATH]: { body: harvesterIso } },
      { hostnames: ['factory.talos.dev', 'releases.rancher.com'] },
    );
    proxy = await startConnectProxy({ host: '127.0.0.1', port: Number(new URL(server.origin).port) });
  });
  after(async () => {
    await server.close();
    await proxy.close();
    if (rgw && bucket) await dropBucket(rgw, bucket).catch(() => undefined);
  });

  it('the fixture is section 7 of the document, byte for byte', (t) => {
    const section = referenceSection7();
    if (section === undefined) {
      t.skip(`${REFERENCE} is not beside this checkout`);
      return;
    }
    assert.equal(readFileSync(FIXTURE, 'utf8'), section);
  });

  it('validate, sync --dry-run, sync, list, the update flow and prune', async (t) => {
    if (!needTool(t, 'packer') || !needTool(t, 'age', 'age') || !needTool(t, 'age-keygen', 'age')) return;
    rgw = await needRgw(t);
    if (!rgw) return;
    bucket = await freshBucket(rgw, 'lab-images');

    // A repository laid out as in the document's section 3.C.
    const repo = tempDir('ingot-004-');
    mkdirSync(join(repo, '.git')); // found by looking upward; no git binary involved
    mkdirSync(join(repo, 'images'));
    mkdirSync(join(repo, 'infrastructure', 'network', 'vyos', 'packer'), { recursive: true });
    writeFileSync(join(repo, 'infrastructure', 'network', 'vyos', 'packer', 'vyos.pkr.hcl'), VYOS_TEMPLATE);
    const asWritten = readFileSync(FIXTURE, 'utf8');
    const manifestFile = join(repo, 'images', 'images.yaml');

    // As written, the only problems are the three digest placeholders.
    writeFileSync(manifestFile, asWritten);
    const raw = await runCli(['validate', '--json'], { cwd: repo });
    assert.equal(raw.code, 2);
    const problems = JSON.parse(raw.stdout).problems as { code: string; image: string; path: string[] }[];
    assert.deepEqual(
      problems.map((p) => [p.code, p.image, p.path.slice(3).join('.')]),
      [
        ['digest-malformed', 'talos-1.9.1', 'source.checksum'],
        ['digest-malformed', 'talos-1.9.1', 'validation.expected'],
        ['digest-malformed', 'harvester-1.4.0', 'source.checksum'],
      ],
    );

    writeFileSync(manifestFile, filledManifest(asWritten));
    // images/e2.sops.yaml as in section 6.7: keys encrypted, endpoint and bucket in clear.
    const age = await ageKeygen();
    writeFileSync(join(repo, 'age-key.txt'), age.keyFile, { mode: 0o600 });
    writeFileSync(
      join(repo, 'images', 'e2.sops.yaml'),
      await writeSops({ access_key: rgw.accessKey, secret_key: rgw.secretKey, endpoint: rgw.endpoint, bucket }, [age.recipient], 'yaml', {
        encryptedRegex: '^(access_key|secret_key)$',
      }),
    );
    const sopsText = readFileSync(join(repo, 'images', 'e2.sops.yaml'), 'utf8');
    assert.ok(sopsText.includes(`bucket: ${bucket}`) && !sopsText.includes(rgw.secretKey), 'bucket in clear, secret encrypted');

    const env = {
      NODE_EXTRA_CA_CERTS: server.caCertFile,
      HTTPS_PROXY: proxy.url,
      NO_PROXY: '127.0.0.1,localhost',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    const creds = ['--credentials', 'images/e2.sops.yaml', '--sops-age-key-file', 'age-key.txt'];

    // labctl images validate: schema, rules, packer directory (relative to the repository root), HEAD for each URL.
    const valid = await runCli(['validate', '--remote', '--json'], { cwd: repo, env });
    assert.equal(valid.code, 0, valid.stdout + valid.stderr);
    const validJson = JSON.parse(valid.stdout);
    assert.equal(validJson.file, 'images/images.yaml');
    assert.deepEqual(
      validJson.remote.map((r: { image: string; status: number }) => [r.image, r.status]),
      [
        ['talos-1.9.1', 200],
        ['harvester-1.4.0', 200],
      ],
    );

    // labctl images sync --dry-run: no credentials needed; then with them, the plan against the bucket they name.
    const bare = await runCli(['sync', '--dry-run'], { cwd: repo, env });
    assert.equal(bare.code, 0, bare.stderr);
    assert.match(bare.stdout, /store: .*images\/\.ingot\/store \(default:/);
    const planned = await runCli(['sync', '--dry-run', ...creds], { cwd: repo, env });
    assert.equal(planned.code, 0, planned.stderr);
    assert.match(
      planned.stdout,
      new RegExp(`store: s3://${bucket}/\\?endpoint=${rgw.endpoint.replace(/[.]/g, '\\.')} \\(bucket and endpoint from SOPS file images/e2\\.sops\\.yaml\\)`),
    );
    assert.match(planned.stdout, /dry run: 3 to publish, 0 up to date; nothing was changed/);
    assert.equal(server.count(TALOS_PATH, 'GET'), 0, 'a dry run downloads nothing');

    // labctl images sync --credentials images/e2.sops.yaml --sops-age-key-file …
    const synced = await runCli(['sync', ...creds, '--json'], { cwd: repo, env });
    assert.equal(synced.code, 0, synced.stdout + synced.stderr);
    const result = JSON.parse(synced.stdout);
    assert.equal(result.storeOrigin, 'credentials');
    assert.deepEqual(
      result.images.map((i: { name: string; status: string }) => [i.name, i.status]),
      [
        ['talos-1.9.1', 'published'],
        ['vyos-gateway', 'published'],
        ['harvester-1.4.0', 'published'],
      ],
    );
    assert.ok(proxy.tunnels.includes('factory.talos.dev:443') && proxy.tunnels.includes('releases.rancher.com:443'), proxy.tunnels.join(', '));
    assert.ok(server.requests.some((r) => r.host === 'factory.talos.dev' && r.path === TALOS_PATH));
    // Section 6.5: images/ and metadata/ at the bucket root.
    assert.deepEqual(await keys(rgw, bucket), [
      'images/harvester/harvester-1.4.0-amd64.iso',
      'images/talos/talos-1.9.1-amd64.raw',
      'images/vyos/vyos-gateway.raw',
      'metadata/harvester/harvester-1.4.0-amd64.iso.json',
      'metadata/talos/talos-1.9.1-amd64.raw.json',
      'metadata/vyos/vyos-gateway.raw.json',
    ]);
    const talosMeta = JSON.parse(await object(rgw, bucket, 'metadata/talos/talos-1.9.1-amd64.raw.json'));
    assert.equal(talosMeta.name, 'talos-1.9.1');
    assert.equal(talosMeta.checksum, sha256(talosRaw));
    assert.equal(talosMeta.size, talosRaw.length);
    assert.ok(!Number.isNaN(Date.parse(talosMeta.uploadedAt)));
    assert.deepEqual([talosMeta.source.type, talosMeta.source.url], ['https', `https://factory.talos.dev${TALOS_PATH}`]);
    assert.equal(sha256(Buffer.from(await object(rgw, bucket, 'images/talos/talos-1.9.1-amd64.raw', 'binary'), 'binary')), sha256(talosRaw));
    const vyos = Buffer.from(await object(rgw, bucket, 'images/vyos/vyos-gateway.raw', 'binary'), 'binary');
    assert.match(vyos.subarray(0, 200).toString(), /^vyos-lab from https:\/\/github\.com\/vyos\/vyos-rolling-nightly-builds\/.*amd64\.iso \(sha256:\.\.\.\)\n/);
    const vyosMeta = JSON.parse(await object(rgw, bucket, 'metadata/vyos/vyos-gateway.raw.json'));
    assert.equal(vyosMeta.checksum, sha256(vyos), 'checksum computed after the build');
    assert.equal(vyosMeta.source.type, 'packer');

    // Idempotency: a second run skips everything, the build included.
    const downloads = server.requests.filter((r) => r.method === 'GET').length;
    const again = await runCli(['sync', ...creds, '--json'], { cwd: repo, env });
    assert.deepEqual(
      JSON.parse(again.stdout).images.map((i: { status: string }) => i.status),
      ['skipped', 'skipped', 'skipped'],
    );
    assert.equal(server.requests.filter((r) => r.method === 'GET').length, downloads);

    // labctl images list, with the credentials of option 1 (environment variables) this time.
    const e2Env = { ...env, E2_ACCESS_KEY: rgw.accessKey, E2_SECRET_KEY: rgw.secretKey, E2_ENDPOINT: rgw.endpoint, E2_BUCKET: bucket };
    const listed = await runCli(['list', '--prefix', 'talos/', '--json'], { cwd: repo, env: e2Env });
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(
      JSON.parse(listed.stdout).images.map((m: { path: string }) => m.path),
      ['talos/talos-1.9.1-amd64.raw'],
    );
    const all = await runCli(['list', ...creds], { cwd: repo, env });
    assert.match(all.stdout, /harvester\/harvester-1\.4\.0-amd64\.iso +harvester-1\.4\.0/);

    // Section 6.3's update flow: talos-1.9.1 → talos-1.9.2, sync, then prune the old version.
    const bumped = filledManifest(asWritten)
      .replaceAll('talos-1.9.1', 'talos-1.9.2')
      .replace('/v1.9.1/', '/v1.9.2/')
      .replace(sha256(talosXz), sha256(talos192Xz))
      .replace(sha256(talosRaw), sha256(talos192Raw));
    writeFileSync(manifestFile, bumped);
    const synced2 = await runCli(['sync', ...creds, '--json'], { cwd: repo, env });
    assert.equal(synced2.code, 0, synced2.stderr);
    assert.deepEqual(
      JSON.parse(synced2.stdout).images.map((i: { status: string }) => i.status),
      ['published', 'skipped', 'skipped'],
    );
    const wouldPrune = await runCli(['prune', '--dry-run', ...creds], { cwd: repo, env });
    assert.equal(wouldPrune.code, 0, wouldPrune.stderr);
    assert.match(wouldPrune.stdout, /would remove talos\/talos-1\.9\.1-amd64\.raw \(talos-1\.9\.1, 3\.0 MiB\)/);
    const pruned = await runCli(['prune', ...creds], { cwd: repo, env });
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stdout, /removed talos\/talos-1\.9\.1-amd64\.raw/);
    const left = await keys(rgw, bucket);
    assert.ok(!left.some((k) => k.includes('talos-1.9.1')), left.join(', '));
    assert.ok(left.includes('images/talos/talos-1.9.2-amd64.raw') && left.includes('metadata/talos/talos-1.9.2-amd64.raw.json'));

    // The same credentials with a local store are refused, saying where each came from.
    const local = await runCli(['sync', '--store', 'out', ...creds], { cwd: repo, env });
    assert.equal(local.code, 2);
    assert.match(
      local.stderr,
      /S3 credentials were given but the store is a local directory\n\s+store: --store \(out, a local directory\)\n\s+credentials: --credentials images\/e2\.sops\.yaml/,
    );
    assert.ok(!existsSync(join(repo, 'out')));
  });
});

async function keys(r: Rgw, b: string): Promise<string[]> {
  const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  const client = await rgwClient(r);
  try {
    const out = await client.send(new ListObjectsV2Command({ Bucket: b }));
    return (out.Contents ?? [])
      .map((o) => o.Key!)
      .filter((k) => k !== '.ingot-lock')
      .sort();
  } finally {
    client.destroy();
  }
}

async function object(r: Rgw, b: string, key: string, encoding: BufferEncoding = 'utf8'): Promise<string> {
  const { GetObjectCommand } = await import('@aws-sdk/client-s3');
  const client = await rgwClient(r);
  try {
    const out = await client.send(new GetObjectCommand({ Bucket: b, Key: key }));
    return Buffer.from(await out.Body!.transformToByteArray()).toString(encoding);
  } finally {
    client.destroy();
  }
}
