/**
 * cloud-init's own documented examples (doc/examples and the module docs of
 * cloud-init 26.2, copied in test/fixtures/conformance/cloud-init): every
 * cloud-config among them must be valid for ingot — 0 errors — as it is for
 * cloud-init's validator, and the one deprecation cloud-init reports must be
 * ingot's only deprecation warning.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { validateUserData } from '../../src/provision/validate.js';

const dir = path.resolve(import.meta.dirname, '../fixtures/conformance/cloud-init');

interface Vector {
  file: string;
  kind: string;
  first_line: string;
  sha256: string;
  copied?: boolean;
  schema_errors?: string[];
  deprecations?: string[];
  top_level_keys?: string[];
}

const vectors = (JSON.parse(readFileSync(path.join(dir, 'vectors.json'), 'utf8')) as { examples: Vector[] }).examples;
const cloudConfigs = vectors.filter((v) => v.kind === 'cloud-config');

describe('cloud-init documented examples (conformance)', () => {
  test('the fixtures are the files vectors.json describes (sha256)', () => {
    let checked = 0;
    for (const v of vectors) {
      if (v.copied === false) continue;
      const file = path.join(dir, v.file);
      assert.ok(existsSync(file), `${v.file} is missing`);
      assert.equal(createHash('sha256').update(readFileSync(file)).digest('hex'), v.sha256, v.file);
      checked++;
    }
    assert.equal(checked, 176);
    assert.equal(cloudConfigs.length, 153);
  });

  test('all 153 cloud-configs are valid: 0 errors', () => {
    const failures: string[] = [];
    for (const v of cloudConfigs) {
      const text = readFileSync(path.join(dir, v.file), 'utf8');
      for (const p of validateUserData(text, v.file)) {
        if (p.severity === 'error') failures.push(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.code}]`);
      }
    }
    assert.deepEqual(failures, []);
  });

  test("deprecation warnings are exactly cloud-init's deprecations", () => {
    for (const v of cloudConfigs) {
      const text = readFileSync(path.join(dir, v.file), 'utf8');
      const ours = validateUserData(text, v.file)
        .filter((p) => p.code === 'deprecated')
        .map((p) => p.path.join('.'));
      const theirs = (v.deprecations ?? []).map((d) => d.split(':')[0]!);
      assert.deepEqual(ours, theirs, v.file);
    }
    const rh = validateUserData(readFileSync(path.join(dir, 'module-docs/cc_rh_subscription/example3.yaml'), 'utf8'), 'example3.yaml').find(
      (p) => p.code === 'deprecated',
    );
    assert.ok(rh);
    assert.equal(rh.severity, 'warning');
    assert.match(rh.message, /rh_subscription\.org: deprecated since cloud-init 24\.2/);
    assert.equal(rh.line, 4);
  });

  test('the documents that tripped the old validator load as cloud-init reads them', () => {
    const read = (f: string) => readFileSync(path.join(dir, f), 'utf8');
    // Duplicate keys: cloud-init keeps the last; ingot warns, never refuses.
    const disk = validateUserData(read('doc-examples/cloud-config-disk-setup.txt'), 'disk');
    assert.ok(disk.some((p) => p.code === 'duplicate-key' && p.severity === 'warning'));
    assert.ok(!disk.some((p) => p.severity === 'error'));
    // `0o600` is a string in YAML 1.1, `!!binary` is bytes: both fine for write_files.
    const writeFiles = validateUserData(read('doc-examples/cloud-config-write-files.txt'), 'wf');
    assert.deepEqual(
      writeFiles.filter((p) => p.severity === 'error'),
      [],
    );
  });

  test('every top-level key the examples use is known', () => {
    const used = new Set(cloudConfigs.flatMap((v) => v.top_level_keys ?? []));
    assert.ok(used.has('rpi') && used.has('launch-index') && used.has('yum_repo_dir') && used.has('grub_dpkg'));
    for (const key of used) {
      const problems = validateUserData(`#cloud-config\n${JSON.stringify(key)}: null\n`, 'k.yaml');
      assert.ok(!problems.some((p) => p.code === 'unknown-key'), `${key} is unknown to ingot`);
    }
  });

  test('Jinja templates get a warning, not an error', () => {
    for (const v of vectors.filter((x) => x.kind.includes('jinja'))) {
      const problems = validateUserData(readFileSync(path.join(dir, v.file), 'utf8'), v.file);
      assert.deepEqual(
        problems.map((p) => [p.severity, p.code]),
        [['warning', 'jinja']],
        v.file,
      );
    }
  });

  test('other user-data parts and network-config are refused as not cloud-config, without a crash', () => {
    const others = vectors.filter((v) => v.kind.startsWith('not cloud-config') && v.copied !== false);
    assert.equal(others.length, 21);
    for (const v of others) {
      const problems = validateUserData(readFileSync(path.join(dir, v.file), 'utf8'), v.file);
      const header = problems.find((p) => p.code === 'header');
      assert.ok(header, `${v.file}: expected a header error`);
      assert.equal(header.line, 1);
    }
  });
});
