import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cloudInitSchema, parseSchemaOutput } from '../../src/provision/cloud-init-schema.js';
import { validateUserData } from '../../src/provision/validate.js';
import { needTool } from '../helpers/tools.js';

describe('ingot validator', () => {
  test('a typo key gets "did you mean" at its line', () => {
    const text = '#cloud-config\npackage_update: true\npackagez:\n  - curl\n';
    const problems = validateUserData(text, 'ud.yaml');
    assert.equal(problems.length, 1);
    const [p] = problems;
    assert.equal(p!.severity, 'error');
    assert.equal(p!.code, 'unknown-key');
    assert.match(p!.message, /unknown key "packagez"; did you mean "packages"\?/);
    assert.equal(p!.line, 3);
    assert.equal(p!.column, 1);
  });

  const cases: { name: string; text: string; code: string; severity: 'error' | 'warning'; line: number; message: RegExp }[] = [
    { name: 'missing header', text: 'packages: [a]\n', code: 'header', severity: 'error', line: 1, message: /#cloud-config/ },
    {
      name: 'wrong type',
      text: '#cloud-config\npackages: curl\n',
      code: 'type',
      severity: 'error',
      line: 2,
      message: /packages: expected a list, got the string "curl"/,
    },
    { name: 'runcmd item type', text: '#cloud-config\nruncmd:\n  - set -e\n  - {a: 1}\n', code: 'type', severity: 'error', line: 4, message: /runcmd\[1\]/ },
    {
      name: 'multi-line block without set -e',
      text: '#cloud-config\nruncmd:\n  - set -e\n  - |\n    false\n    echo after\n',
      code: 'not-strict',
      severity: 'warning',
      line: 4,
      message: /without "set -e"/,
    },
    {
      name: 'runcmd not starting with set -e',
      text: '#cloud-config\nruncmd:\n  - false\n  - true\n',
      code: 'not-strict',
      severity: 'warning',
      line: 3,
      message: /only the last item's failure counts/,
    },
    {
      name: 'write_files key typo',
      text: '#cloud-config\nwrite_files:\n  - path: /x\n    contents: y\n',
      code: 'unknown-key',
      severity: 'error',
      line: 4,
      message: /did you mean "content"/,
    },
    {
      name: 'numeric permissions',
      text: '#cloud-config\nwrite_files:\n  - path: /x\n    permissions: 0644\n',
      code: 'type',
      severity: 'error',
      line: 4,
      message: /permissions: expected a string, got the integer 420/,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const found = validateUserData(c.text, 'f.yaml').find((p) => p.code === c.code);
      assert.ok(found, `expected a ${c.code} problem`);
      assert.equal(found.severity, c.severity);
      assert.equal(found.line, c.line);
      assert.match(found.message, c.message);
    });
  }

  test('a strict user-data has no problems', () => {
    assert.deepEqual(validateUserData('#cloud-config\nruncmd:\n  - set -e\n  - [bash, -c, "set -euo pipefail\\necho a\\necho b\\n"]\n', 'ok.yaml'), []);
  });
});

describe('cloud-init schema', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ingot-schema-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('errors map to file:line; the typo key needs ingot (22.4 accepts it)', async (t) => {
    if (!needTool(t, 'cloud-init')) return;
    const text = '#cloud-config\npackagez: [a]\nruncmd:\n  - 5\npackages: 3\n';
    const file = path.join(dir, 'bad.yaml');
    await writeFile(file, text);
    const problems = await cloudInitSchema(file, text);
    const packages = problems.find((p) => p.path[0] === 'packages');
    assert.ok(packages, JSON.stringify(problems));
    assert.equal(packages.line, 5);
    const runcmd = problems.find((p) => p.path[0] === 'runcmd');
    assert.equal(runcmd?.line, 4);
    assert.ok(validateUserData(text, file).some((p) => /did you mean "packages"/.test(p.message)));
  });

  test('format errors carry their line and column', () => {
    const problems = parseSchemaOutput(
      'Error:\nCloud config schema errors: format-l2.c11: File x is not valid yaml. while parsing',
      'x',
      '#cloud-config\npackages: [a\n',
    );
    assert.equal(problems[0]?.line, 2);
    assert.equal(problems[0]?.column, 11);
  });
});
