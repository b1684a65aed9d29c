import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { cloudInitSchema } from '../../src/provision/cloud-init-schema.js';
import { resolveProfile } from '../../src/provision/merge.js';
import { parseParams } from '../../src/provision/params.js';
import { renderUserData, strictBlock } from '../../src/provision/render.js';
import { validateUserData } from '../../src/provision/validate.js';
import { loadVersions } from '../../src/provision/versions.js';
import { needTool } from '../helpers/tools.js';

const profilesDir = path.resolve(import.meta.dirname, '../../profiles');
const identity = parseParams(['user=alice', 'ssh_key=ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9v alice@laptop', 'hostname=web-1']);

async function shippedNames(): Promise<string[]> {
  return (await readdir(profilesDir)).filter((f) => f.endsWith('.yaml') && f !== 'versions.yaml').map((f) => f.replace(/\.yaml$/, '')).sort();
}

describe('shipped profiles', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ingot-render-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('all six are shipped', async () => {
    assert.deepEqual(await shippedNames(), ['base', 'containerd-rootless', 'docker', 'hardening', 'nvidia', 'readonly-root']);
  });

  test("render, pass ingot's validator and Debian's cloud-init schema", async (t) => {
    const versions = await loadVersions(path.join(profilesDir, 'versions.yaml'));
    const cloudInit = needTool(t, 'cloud-init');
    for (const name of await shippedNames()) {
      const { text } = renderUserData(await resolveProfile(profilesDir, name), identity, versions);
      const file = path.join(dir, `${name}.user-data`);
      await writeFile(file, text);
      assert.deepEqual(validateUserData(text, file), [], `${name}: ingot validator`);
      if (cloudInit) assert.deepEqual(await cloudInitSchema(file, text), [], `${name}: cloud-init schema`);
    }
  });

  test('all shipped profiles compose into one without conflicts', async (t) => {
    const { copyFile } = await import('node:fs/promises');
    const names = await shippedNames();
    for (const name of [...names.map((n) => `${n}.yaml`), 'versions.yaml']) await copyFile(path.join(profilesDir, name), path.join(dir, name));
    await writeFile(path.join(dir, 'everything.yaml'), `kind: Profile\nincludes: [${names.join(', ')}]\n`);
    const versions = await loadVersions(path.join(dir, 'versions.yaml'));
    const merged = await resolveProfile(dir, 'everything');
    assert.equal(merged.files.filter((f) => f.endsWith('/base.yaml')).length, 1, 'base is applied once');
    const { text } = renderUserData(merged, identity, versions);
    const file = path.join(dir, 'everything.user-data');
    await writeFile(file, text);
    assert.deepEqual(validateUserData(text, file), []);
    if (needTool(t, 'cloud-init')) assert.deepEqual(await cloudInitSchema(file, text), []);
  });

  test('rendering is deterministic and strict', async () => {
    const versions = await loadVersions(path.join(profilesDir, 'versions.yaml'));
    for (const name of await shippedNames()) {
      const a = renderUserData(await resolveProfile(profilesDir, name), identity, versions).text;
      const b = renderUserData(await resolveProfile(profilesDir, name), identity, versions).text;
      assert.equal(a, b, `${name} renders identically twice`);
      assert.ok(a.startsWith('#cloud-config\n'));
      const config = parse(a) as Record<string, unknown>;
      const runcmd = (config.runcmd ?? []) as unknown[];
      if (runcmd.length) assert.equal(runcmd[0], 'set -e', `${name}: runcmd starts with set -e`);
      for (const item of runcmd) {
        const script = typeof item === 'string' ? item : Array.isArray(item) && item[1] === '-c' ? String(item[2]) : '';
        if (script.includes('\n')) assert.ok(script.startsWith('set -euo pipefail\n'), `${name}: block starts strict:\n${script}`);
      }
      assert.equal(JSON.stringify(config).includes('AAAAC3NzaC1lZDI1NTE5'), true, 'identity comes from --set');
    }
  });

  test('docker verifies the apt key fingerprint', async () => {
    const { text } = renderUserData(await resolveProfile(profilesDir, 'docker'), { sshKeys: [] });
    assert.match(text, /9DC858229FC7DD38854AE2D88D81803C0EBFCD88/);
    assert.match(text, /gpg --show-keys --with-colons/);
    assert.doesNotMatch(text, /users:|ssh_authorized_keys|hostname:/, 'no identity without --set');
  });

  test('verified downloads come from versions.yaml with sha256 and bounded retries', async () => {
    const versions = await loadVersions(path.join(profilesDir, 'versions.yaml'));
    const pin = versions.pins.get('nerdctl-full')!;
    const { text } = renderUserData(await resolveProfile(profilesDir, 'containerd-rootless'), { sshKeys: [] }, versions);
    assert.ok(text.includes(pin.url));
    assert.ok(text.includes(`echo '${pin.sha256}  '"$tmp" | sha256sum -c --strict -`));
    assert.match(text, /--retry 5 /);
    await assert.rejects(async () => renderUserData(await resolveProfile(profilesDir, 'containerd-rootless'), { sshKeys: [] }), /no versions file was given/);
  });
});

describe('strict blocks and parameters', () => {
  const blocks: [string, string][] = [
    ['echo a\necho b\n', 'set -euo pipefail\necho a\necho b\n'],
    ['set -e\necho a\n', 'set -euo pipefail\necho a\n'],
    ['\nset -euo pipefail\necho a', 'set -euo pipefail\necho a\n'],
  ];
  for (const [input, expected] of blocks) test(`strictBlock(${JSON.stringify(input)})`, () => assert.equal(strictBlock(input), expected));

  test('--set rejects unknown keys with a suggestion and bad values', () => {
    assert.throws(() => parseParams(['hostnam=x']), /did you mean "hostname"/);
    assert.throws(() => parseParams(['user=Root Admin']), /lowercase login name/);
    assert.throws(() => parseParams(['ssh_key=not-a-key']), /OpenSSH public key/);
    assert.throws(() => parseParams(['hostname=a', 'hostname=b']), /given twice/);
    assert.deepEqual(parseParams(['ssh_key=ssh-ed25519 AAA a', 'ssh_key=ssh-rsa BBB b']).sshKeys, ['ssh-ed25519 AAA a', 'ssh-rsa BBB b']);
  });
});
