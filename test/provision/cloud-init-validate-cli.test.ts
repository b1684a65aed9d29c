/**
 * `ingot cloud-init validate` with the installed `cloud-init schema`: what
 * only an older cloud-init refuses is a warning naming its version; what
 * ingot already reports is not repeated; a newer cloud-init's verdict stays
 * an error.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { main } from '../../src/cli/main.js';
import type { Problem } from '../../src/manifest/problems.js';
import { SCHEMA_VERSION } from '../../src/provision/cloud-init/schema-data.js';
import { compareVersions, parseCloudInitVersion, reconcileSchemaProblems } from '../../src/provision/cloud-init-schema.js';
import { needTool } from '../helpers/tools.js';

const conformance = path.resolve(import.meta.dirname, '../fixtures/conformance/cloud-init');

async function ingot(argv: string[], cwd = conformance) {
  let stdout = '';
  let stderr = '';
  const stream = (append: (s: string) => void) => ({ write: (s: string) => (append(String(s)), true), isTTY: false }) as unknown as NodeJS.WriteStream;
  const code = await main({ argv, env: { ...process.env, INGOT_DEBUG: '' }, cwd, stdout: stream((s) => (stdout += s)), stderr: stream((s) => (stderr += s)) });
  return { code, stdout, stderr };
}

// Documented examples that Debian 12's cloud-init 22.4.2 refuses (15 of the 153 do; these
// cover each reason): its schema predates them.
const newerThan224 = [
  'doc-examples/cloud-config-ansible-pull.txt', // ansible.pull as a list
  'doc-examples/cloud-config-disk-setup.txt', // a layout entry with a GUID type
  'module-docs/cc_grub_dpkg/example1.yaml', // grub-efi/install_devices
  'module-docs/cc_package_update_upgrade_install/example1.yaml', // {apt: …}/{snap: …} in packages
  'module-docs/cc_rh_subscription/example2.yaml', // activation_key
  'module-docs/cc_users_groups/example8.yaml', // users: []
  'module-docs/cc_write_files/example6.yaml', // write_files source
];

describe('cloud-init validate with the installed cloud-init', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ingot-validate-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('examples an older cloud-init refuses are valid, with a warning naming its version', async (t) => {
    if (!needTool(t, 'cloud-init')) return;
    const r = await ingot(['cloud-init', 'validate', '--json', ...newerThan224]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const results = JSON.parse(r.stdout) as { file: string; valid: boolean; problems: Problem[] }[];
    assert.equal(results.length, newerThan224.length);
    for (const result of results) {
      assert.ok(result.valid, result.file);
      assert.deepEqual(
        result.problems.filter((p) => p.severity === 'error'),
        [],
        result.file,
      );
    }
    const older = results.flatMap((x) => x.problems).filter((p) => p.code === 'cloud-init-older');
    const installed = /installed cloud-init (\S+) is older/.exec(r.stderr)?.[1];
    if (installed && compareVersions(installed, SCHEMA_VERSION) < 0) {
      // 22.4 refuses all of them; a later (still older) release refuses fewer.
      assert.ok(older.length > 0, 'an older cloud-init refuses some of these');
      for (const p of older) {
        assert.equal(p.severity, 'warning');
        assert.match(
          p.message,
          new RegExp(
            `^cloud-init ${installed.replaceAll('.', '\\.')} \\(installed\\) refuses this, but its schema is older than ingot's \\(${SCHEMA_VERSION}\\)`,
          ),
        );
        assert.ok(p.line >= 1);
      }
      const ansible = results.find((x) => x.file.endsWith('cloud-config-ansible-pull.txt'))!;
      if (installed.startsWith('22.'))
        assert.ok(
          ansible.problems.some((p) => p.code === 'cloud-init-older' && p.path[0] === 'ansible'),
          JSON.stringify(ansible.problems),
        );
    } else {
      assert.deepEqual(older, []);
    }
  });

  test('an error both report is reported once, by ingot', async (t) => {
    if (!needTool(t, 'cloud-init')) return;
    const file = path.join(dir, 'bad.yaml');
    await writeFile(file, '#cloud-config\npackages: 3\n');
    const r = await ingot(['cloud-init', 'validate', '--json', file], dir);
    assert.equal(r.code, 2);
    const [result] = JSON.parse(r.stdout) as { problems: Problem[] }[];
    assert.deepEqual(
      result!.problems.map((p) => [p.line, p.code]),
      [[2, 'type']],
    );
  });

  test('--strict fails on warnings; without it they pass', async () => {
    const file = path.join(dir, 'dep.yaml');
    await writeFile(file, '#cloud-config\napt_update: true\n');
    const lax = await ingot(['cloud-init', 'validate', '--no-schema', file], dir);
    assert.equal(lax.code, 0);
    assert.match(lax.stdout, /dep\.yaml:2:1: warning: apt_update: deprecated since cloud-init 22\.2: use "package_update" instead \[deprecated\]/);
    assert.match(lax.stdout, /dep\.yaml: valid \(ingot schema [\d.]+\), 1 warning/);
    const strict = await ingot(['cloud-init', 'validate', '--no-schema', '--strict', file], dir);
    assert.equal(strict.code, 2);
    assert.match(strict.stdout, /dep\.yaml: invalid/);
  });
});

describe('reconciling cloud-init schema with ingot', () => {
  const p = (path: (string | number)[], severity: Problem['severity'] = 'error', code = 'cloud-init-schema'): Problem => ({
    code,
    severity,
    message: `cloud-init schema: ${path.join('.')}: bad`,
    file: 'f',
    line: 1,
    column: 1,
    path,
  });

  test('parses the version', () => {
    assert.equal(parseCloudInitVersion('/usr/bin/cloud-init 22.4.2\n'), '22.4.2');
    assert.equal(parseCloudInitVersion('cloud-init 25.3'), '25.3');
    assert.equal(compareVersions('22.4.2', '25.3'), -1);
    assert.equal(compareVersions('25.3', '25.3.0'), 0);
    assert.equal(compareVersions('26.1', '25.3'), 1);
  });

  test('what ingot already reports is dropped', () => {
    const out = reconcileSchemaProblems([p(['packages', 0], 'error', 'type')], [p(['packages'])], '22.4.2', '25.3');
    assert.deepEqual(out, []);
  });

  test('an older cloud-init: a warning naming its version', () => {
    const [w] = reconcileSchemaProblems([], [p(['ansible', 'pull'])], '22.4.2', '25.3');
    assert.equal(w?.severity, 'warning');
    assert.equal(w?.code, 'cloud-init-older');
    assert.match(
      w!.message,
      /^cloud-init 22\.4\.2 \(installed\) refuses this, but its schema is older than ingot's \(25\.3\), which accepts it: ansible\.pull: bad$/,
    );
  });

  test('a cloud-init as new as the data: its errors stand', () => {
    const out = reconcileSchemaProblems([p(['users', 0, 'x'], 'warning', 'deprecated')], [p(['users', 0])], '26.2', '25.3');
    assert.deepEqual(
      out.map((x) => [x.severity, x.code]),
      [['error', 'cloud-init-schema']],
    );
  });
});
