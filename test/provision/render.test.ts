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
import { loadVersions, type Versions } from '../../src/provision/versions.js';
import { needTool } from '../helpers/tools.js';

const profilesDir = path.resolve(import.meta.dirname, '../../profiles');
const identity = parseParams([
  'user=alice',
  'ssh_key=ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9vZm9v alice@laptop',
  'hostname=web-1',
]);

async function shippedNames(): Promise<string[]> {
  return (await readdir(profilesDir))
    .filter((f) => f.endsWith('.yaml') && f !== 'versions.yaml')
    .map((f) => f.replace(/\.yaml$/, ''))
    .sort();
}

/**
 * The shipped versions.yaml with its unknown digests (sha256: null) filled by
 * a stand-in, so profiles that use those pins can be rendered in tests.
 */
async function versionsForTests(): Promise<Versions> {
  const versions = await loadVersions(path.join(profilesDir, 'versions.yaml'));
  for (const pin of versions.pins.values()) pin.sha256 ??= 'f'.repeat(64);
  return versions;
}

describe('shipped profiles', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ingot-render-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('the shipped profiles', async () => {
    assert.deepEqual(await shippedNames(), [
      'base',
      'containerd-rootless',
      'docker',
      'full',
      'hardening',
      'monitoring',
      'nvidia',
      'readonly-root',
      'sysbox',
      'tools',
    ]);
  });

  test("render, pass ingot's validator and Debian's cloud-init schema", async (t) => {
    const versions = await versionsForTests();
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
    const versions = await versionsForTests();
    const merged = await resolveProfile(dir, 'everything');
    assert.equal(merged.files.filter((f) => f.endsWith('/base.yaml')).length, 1, 'base is applied once');
    const { text } = renderUserData(merged, identity, versions);
    const file = path.join(dir, 'everything.user-data');
    await writeFile(file, text);
    assert.deepEqual(validateUserData(text, file), []);
    if (needTool(t, 'cloud-init')) assert.deepEqual(await cloudInitSchema(file, text), []);
  });

  test('rendering is deterministic and strict', async () => {
    const versions = await versionsForTests();
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
    assert.ok(text.includes(`echo '${pin.sha256}  '"$ARTIFACT" | sha256sum -c --strict -`));
    assert.match(text, /--retry 5 /);
    await assert.rejects(async () => renderUserData(await resolveProfile(profilesDir, 'containerd-rootless'), { sshKeys: [] }), /no versions file was given/);
  });
});

describe('shipped profiles match the reference documents', () => {
  const render = async (name: string) =>
    parse(renderUserData(await resolveProfile(profilesDir, name), { sshKeys: [] }, await versionsForTests()).text) as Record<string, unknown>;
  const file = (config: Record<string, unknown>, p: string) =>
    (config.write_files as { path: string; content: string }[]).find((f) => f.path === p)?.content ?? '';
  const runcmdText = (config: Record<string, unknown>) => JSON.stringify(config.runcmd);

  test("hardening: 000's sysctls, the Docker audit rules, AppArmor, every password locked", async () => {
    const config = await render('hardening');
    const sysctl = file(config, '/etc/sysctl.d/90-ingot.conf');
    for (const line of [
      'kernel.randomize_va_space = 2',
      'kernel.dmesg_restrict = 1',
      'kernel.kptr_restrict = 2',
      'fs.suid_dumpable = 0',
      'kernel.yama.ptrace_scope = 2',
    ])
      assert.ok(sysctl.includes(`${line}\n`), line);
    const rules = file(config, '/etc/audit/rules.d/docker.rules');
    for (const p of [
      '/usr/bin/docker',
      '/var/lib/docker',
      '/etc/docker',
      '/usr/lib/systemd/system/docker.service',
      '/etc/default/docker',
      '/etc/docker/daemon.json',
      '/usr/bin/containerd',
    ]) {
      assert.ok(rules.includes(`-w ${p} -p rwxa -k docker\n`), p);
    }
    assert.equal(file(config, '/etc/audit/rules.d/00-ingot-continue.rules'), '-c\n', 'one rule that cannot load yet does not drop the others');
    assert.deepEqual(config.packages, ['ca-certificates', 'curl', 'auditd', 'apparmor', 'apparmor-utils']);
    assert.match(runcmdText(config), /passwd -l root/);
    assert.match(runcmdText(config), /systemctl enable apparmor\.service auditd\.service/);
  });

  test("sysbox: the pinned .deb after Docker is installed, 000's daemon.json and clean restart", async () => {
    const config = await render('sysbox');
    const runcmd = runcmdText(config);
    const pin = (await versionsForTests()).pins.get('sysbox-ce')!;
    assert.equal(pin.version, '0.6.7');
    assert.equal(pin.sha256, 'b7ac389e5a19592cadf16e0ca30e40919516128f6e1b7f99e1cb4ff64554172e', "000's digest");
    assert.ok(runcmd.indexOf('docker-compose-plugin') < runcmd.indexOf(pin.sha256), 'Docker first, then Sysbox (000)');
    assert.ok(runcmd.indexOf(pin.sha256) < runcmd.indexOf('rm -f /var/run/docker/netns/*'));
    assert.deepEqual(JSON.parse(file(config, '/etc/docker/daemon.json')), {
      runtimes: { 'sysbox-runc': { path: '/usr/bin/sysbox-runc' } },
      'no-new-privileges': true,
      'userland-proxy': false,
    });
    assert.match(runcmd, /systemctl stop docker\.socket docker \|\| true/);
  });

  test('containerd-rootless: rootlesskit AppArmor profile, ping_group_range, unprivileged_port_start', async () => {
    const config = await render('containerd-rootless');
    const sysctl = file(config, '/etc/sysctl.d/90-ingot.conf');
    assert.match(sysctl, /^net\.ipv4\.ping_group_range = 0 2147483647$/m);
    assert.match(sysctl, /^net\.ipv4\.ip_unprivileged_port_start = 0$/m);
    assert.match(
      file(config, '/usr/local/share/ingot/apparmor/usr.local.bin.rootlesskit'),
      /"\/usr\/local\/bin\/rootlesskit" flags=\(unconfined\) \{\n {2}userns,/,
    );
    assert.match(runcmdText(config), /apparmor_restrict_unprivileged_userns/);
  });

  test('tools and monitoring: every artifact from versions.yaml into /usr/local; full composes them all', async () => {
    const versions = await loadVersions(path.join(profilesDir, 'versions.yaml'));
    const tools = runcmdText(await render('tools'));
    for (const name of ['go', 'rustup-init', 'neovim', 'fzf']) assert.ok(tools.includes(versions.pins.get(name)!.url), name);
    assert.match(tools, /RUSTUP_HOME=\/usr\/local\/rustup CARGO_HOME=\/usr\/local\/cargo/);
    const monitoring = await render('monitoring');
    assert.ok(runcmdText(monitoring).includes(versions.pins.get('node_exporter')!.url));
    assert.match(runcmdText(monitoring), /\["systemctl","start","node_exporter\.service"\]/);
    const full = await resolveProfile(profilesDir, 'full');
    for (const name of ['docker', 'sysbox', 'containerd-rootless', 'hardening', 'tools', 'monitoring'])
      assert.ok(
        full.files.some((f) => f.endsWith(`/${name}.yaml`)),
        name,
      );
    // Unknown digests are never papered over: the shipped file refuses to render them.
    await assert.rejects(async () => renderUserData(await resolveProfile(profilesDir, 'tools'), { sshKeys: [] }, versions), /has no sha256 yet/);
  });

  test('readonly-root: state disk required, fstab for the next boot, apt refused while / is ro, checked after a reboot', async () => {
    const config = await render('readonly-root');
    const runcmd = runcmdText(config);
    assert.match(runcmd, /blkid -L state/);
    assert.match(runcmd, /x-systemd\.requires=ingot-seed-state\.service/);
    assert.match(file(config, '/etc/apt/apt.conf.d/00ingot-readonly-root'), /DPkg::Pre-Invoke/);
    const profile = await resolveProfile(profilesDir, 'readonly-root');
    assert.deepEqual(
      profile.parts.launch.map((s) => s.kind),
      ['reboot', 'run'],
    );
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
