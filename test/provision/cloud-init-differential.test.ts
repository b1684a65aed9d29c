/**
 * ingot's schema checker against cloud-init's own validator. The installed
 * cloud-init builds its jsonschema validator (draft 4, bytes as strings,
 * deprecation-aware oneOf/anyOf); fed ingot's schema data, exported as JSON
 * Schema, it judges the 153 documented examples and 1500 variants of them
 * (wrong types, typos, missing and extra keys, emptied lists; fixed seed).
 * ingot must agree on every one: valid or not, and which deprecations.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isIsoDate } from '../../src/provision/cloud-init/check.js';
import { cloudConfigJsonSchema } from '../../src/provision/cloud-init/schema-data.js';
import { validateUserData } from '../../src/provision/validate.js';
import { cloudInitPython } from '../helpers/cloud-init-python.js';

interface Verdict {
  text: string;
  loads: boolean;
  errors?: string[];
  deprecations?: string[];
}

const conformance = path.resolve(import.meta.dirname, '../fixtures/conformance/cloud-init');
const oracle = path.resolve(import.meta.dirname, '../fixtures/cloud-init/oracle.py');
const examples = (JSON.parse(readFileSync(path.join(conformance, 'vectors.json'), 'utf8')) as { examples: { file: string; kind: string }[] }).examples
  .filter((v) => v.kind === 'cloud-config')
  .map((v) => path.join(conformance, v.file));

function compare(verdicts: Verdict[]): { mismatches: string[]; invalid: number; deprecated: number } {
  const mismatches: string[] = [];
  let invalid = 0;
  let deprecated = 0;
  for (const v of verdicts) {
    const problems = validateUserData(v.text, 'variant.yaml');
    const loads = !problems.some((p) => p.code.startsWith('yaml-'));
    const invalidForUs = problems.some((p) => p.severity === 'error' && p.code !== 'header');
    const ourDeprecations = [...new Set(problems.filter((p) => p.code === 'deprecated').map((p) => p.path.join('.')))].sort();
    const invalidForThem = v.loads && (v.errors?.length ?? 0) > 0;
    if (invalidForThem) invalid++;
    if (v.deprecations?.length) deprecated++;
    const agree =
      loads === v.loads &&
      (!v.loads || (invalidForUs === invalidForThem && (invalidForThem || JSON.stringify(ourDeprecations) === JSON.stringify(v.deprecations ?? []))));
    if (!agree)
      mismatches.push(
        `${v.text}\n  cloud-init: ${JSON.stringify({ errors: v.errors, deprecations: v.deprecations })}\n  ingot: ${JSON.stringify(problems.map((p) => `${p.line}:${p.column} ${p.severity} ${p.message}`))}`,
      );
  }
  return { mismatches, invalid, deprecated };
}

describe("ingot's checker agrees with cloud-init's validator", () => {
  let dir: string;
  let schemaFile: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ingot-differential-'));
    schemaFile = path.join(dir, 'schema.json');
    await writeFile(schemaFile, JSON.stringify(cloudConfigJsonSchema()));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const judge = (python: string, args: string[]): Verdict[] =>
    execFileSync(python, [oracle, schemaFile, ...args], { encoding: 'utf8', maxBuffer: 256 << 20 })
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Verdict);

  test('dates: the "date" format as its jsonschema checks it', (t) => {
    const python = cloudInitPython(t);
    if (!python) return;
    const samples = [
      '2030-01-01',
      '20300101',
      '2030-W01',
      '2030W011',
      '2030-W011',
      '2026-W53-1',
      '2030-W53-1',
      '2030-W00-1',
      '2030-W01-8',
      '20300230',
      '2024-02-29',
      '2023-02-29',
      '2030-12',
      '2030-001',
      '2030-01-01T00',
      ' 2030-01-01',
      '0000-01-01',
      '2030-13-01',
    ];
    const script =
      'import json,sys\nfrom jsonschema import FormatChecker\nfc=FormatChecker()\nprint(json.dumps([fc.conforms(v, "date") for v in json.loads(sys.argv[1])]))';
    const theirs = JSON.parse(execFileSync(python, ['-c', script, JSON.stringify(samples)], { encoding: 'utf8' })) as boolean[];
    const ours = samples.map(isIsoDate);
    // Newer jsonschema releases take only YYYY-MM-DD; ingot never refuses what the installed one takes.
    samples.forEach((s, i) => {
      const agree = ours[i] === theirs[i] || (ours[i] === true && theirs[i] === false && !/^\d{4}-\d{2}-\d{2}$/.test(s));
      assert.ok(agree, `${JSON.stringify(s)}: ingot ${ours[i]}, cloud-init's jsonschema ${theirs[i]}`);
    });
    assert.equal(ours[0], true);
    assert.equal(ours[9], false);
  });

  test('on the 153 documented examples', (t) => {
    const python = cloudInitPython(t);
    if (!python) return;
    const verdicts = judge(python, examples);
    assert.equal(verdicts.length, 153);
    const { mismatches, invalid, deprecated } = compare(verdicts);
    assert.deepEqual(mismatches, []);
    assert.equal(invalid, 0, "cloud-init's validator accepts every example with ingot's schema data");
    assert.equal(deprecated, 1);
  });

  test('on 1500 mutated variants', (t) => {
    const python = cloudInitPython(t);
    if (!python) return;
    const verdicts = judge(python, ['--mutate', '20261130', '1500', ...examples]);
    assert.equal(verdicts.length, 1500);
    const { mismatches, invalid, deprecated } = compare(verdicts);
    assert.deepEqual(mismatches.slice(0, 5), []);
    // The variants exercise both verdicts and deprecations, not just one side.
    assert.ok(invalid > 500 && invalid < 1450, `invalid: ${invalid}`);
    assert.ok(deprecated > 5, `with deprecations: ${deprecated}`);
  });
});
