/**
 * User-data read as cloud-init reads it: PyYAML's SafeLoader (YAML 1.1).
 * First a table of what each trap must load as; then the same documents, the
 * conformance examples and more, loaded by the real PyYAML (the interpreter
 * cloud-init itself runs on) and compared value by value.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { keyName, loadYaml11, MAX_EXPANDED_NODES, type YNode } from '../../src/provision/cloud-init/yaml11.js';
import { cloudInitPython } from '../helpers/cloud-init-python.js';

/** A neutral form of a loaded value, the same as the oracle's --load output. */
function neutral(n: YNode): unknown {
  switch (n.kind) {
    case 'null':
      return null;
    case 'bool':
      return { bool: n.value };
    case 'int':
      return { int: n.value.toString() };
    case 'float':
      return { float: Number.isFinite(n.value) ? n.value : Number.isNaN(n.value) ? 'nan' : n.value > 0 ? 'inf' : '-inf' };
    case 'str':
      return n.value;
    case 'bytes':
      return { bytes: Buffer.from(n.value).toString('hex') };
    case 'timestamp':
      return { timestamp: 1 };
    case 'map':
      return { map: [...n.entries.values()].map((e) => [e.name, neutral(e.value)]) };
    case 'seq':
      return n.items.map(neutral);
    case 'set':
      return { set: n.members.map(keyName).sort() };
    case 'pairs':
      return n.pairs.map(([k, v]) => ({ tuple: [neutral(k), neutral(v)] }));
  }
}

function load(text: string): unknown {
  const r = loadYaml11(text);
  return r.root
    ? neutral(r.root)
    : {
        error: r.problems
          .filter((p) => p.severity === 'error')
          .map((p) => p.message)
          .join('; '),
      };
}

const int = (v: string) => ({ int: v });
const map = (...pairs: [string, unknown][]) => ({ map: pairs });

// What each YAML 1.1 trap loads as (checked by hand against PyYAML's resolver and constructors).
const cases: { name: string; yaml: string; value: unknown }[] = [
  {
    name: 'yes/no/on/off are booleans, y/n are not',
    yaml: 'a: yes\nb: No\nc: on\nd: OFF\ne: y\nf: n\n',
    value: map(['a', { bool: true }], ['b', { bool: false }], ['c', { bool: true }], ['d', { bool: false }], ['e', 'y'], ['f', 'n']),
  },
  { name: '0o600 is a string, 0600 is octal', yaml: 'a: 0o600\nb: 0600\nc: "0600"\n', value: map(['a', '0o600'], ['b', int('384')], ['c', '0600']) },
  {
    name: 'hex, binary, underscores, sexagesimal',
    yaml: 'a: 0x1F\nb: 0b101\nc: 1_000\nd: 1:30\ne: 190:20:30\n',
    value: map(['a', int('31')], ['b', int('5')], ['c', int('1000')], ['d', int('90')], ['e', int('685230')]),
  },
  { name: 'not numbers: 08, 09:30, 1e3', yaml: 'a: 08\nb: 09:30\nc: 1e3\n', value: map(['a', '08'], ['b', '09:30'], ['c', '1e3']) },
  {
    name: 'floats need a dot',
    yaml: 'a: 1.5\nb: 1.0e+3\nc: .inf\nd: -.Inf\n',
    value: map(['a', { float: 1.5 }], ['b', { float: 1000 }], ['c', { float: 'inf' }], ['d', { float: '-inf' }]),
  },
  { name: 'big integers stay exact', yaml: 'a: 12345678901234567890\n', value: map(['a', int('12345678901234567890')]) },
  { name: 'nulls', yaml: 'a:\nb: ~\nc: Null\nd: nUll\n', value: map(['a', null], ['b', null], ['c', null], ['d', 'nUll']) },
  { name: 'dates are not strings', yaml: 'a: 2030-01-01\nb: "2030-01-01"\n', value: map(['a', { timestamp: 1 }], ['b', '2030-01-01']) },
  { name: '!!binary is bytes', yaml: 'a: !!binary aGVsbG8=\n', value: map(['a', { bytes: Buffer.from('hello').toString('hex') }]) },
  { name: 'a repeated key keeps its first place and last value', yaml: 'a: 1\nb: 2\na: 3\n', value: map(['a', int('3')], ['b', int('2')]) },
  { name: '1 and true are one key', yaml: '1: a\ntrue: b\n', value: map(['1', 'b']) },
  {
    name: 'merge keys: explicit keys win, earlier merges win, merged keys come first',
    yaml: 'b: &b {x: 1, y: 2}\no: &o {y: 3, z: 4}\nm:\n  <<: [*b, *o]\n  x: 9\n',
    value: map(
      ['b', map(['x', int('1')], ['y', int('2')])],
      ['o', map(['y', int('3')], ['z', int('4')])],
      ['m', map(['y', int('2')], ['z', int('4')], ['x', int('9')])],
    ),
  },
  { name: '"!" resolves like a plain scalar', yaml: 'a: ! 12\n', value: map(['a', int('12')]) },
  { name: 'explicit tags', yaml: 'a: !!str 123\nb: !!int "0x10"\nc: !!bool "yes"\n', value: map(['a', '123'], ['b', int('16')], ['c', { bool: true }]) },
];

const errors: { name: string; yaml: string; message: RegExp; line: number }[] = [
  { name: 'a plain "=" value (PyYAML has no constructor for it)', yaml: 'a: =\n', message: /constructor for the tag "!!value"/, line: 1 },
  { name: 'an unknown tag', yaml: 'a:\n  b: !foo bar\n', message: /constructor for the tag "!foo"/, line: 2 },
  { name: 'a list as a key', yaml: '? [a, b]\n: 1\n', message: /unhashable key/, line: 1 },
  { name: 'a recursive alias', yaml: 'a: &x [1, *x]\n', message: /recursive/, line: 1 },
  { name: 'two documents', yaml: 'a: 1\n---\nb: 2\n', message: /single document/, line: 2 },
  { name: 'bad base64', yaml: 'a: !!binary "abcde"\n', message: /base64/, line: 1 },
  { name: 'merging a scalar', yaml: 'a:\n  <<: 5\n', message: /for merging/, line: 2 },
];

describe('YAML 1.1 as cloud-init reads it', () => {
  for (const c of cases) test(c.name, () => assert.deepEqual(load(c.yaml), c.value));
  for (const c of errors) {
    test(`refused: ${c.name}`, () => {
      const r = loadYaml11(c.yaml);
      assert.equal(r.root, undefined);
      const e = r.problems.find((p) => p.severity === 'error');
      assert.ok(e);
      assert.match(e.message, c.message);
      assert.equal(e.line, c.line);
    });
  }

  test('positions of keys and values are kept', () => {
    const r = loadYaml11('#cloud-config\nusers:\n  - name: a\n    shell: /bin/sh\n');
    assert.ok(r.root?.kind === 'map');
    const users = r.root.entries.get('users')!;
    assert.deepEqual([users.key.line, users.key.column], [2, 1]);
    const first = users.value.kind === 'seq' ? users.value.items[0]! : undefined;
    assert.ok(first?.kind === 'map');
    const shell = first.entries.get('shell')!;
    assert.deepEqual([shell.key.line, shell.key.column, shell.value.line, shell.value.column], [4, 5, 4, 12]);
  });

  test('a repeated key is a warning at the later one', () => {
    const r = loadYaml11('a: 1\nb:\n  c: 1\n  c: 2\n');
    assert.deepEqual(
      r.problems.map((p) => [p.severity, p.code, p.line, p.column]),
      [['warning', 'duplicate-key', 4, 3]],
    );
  });

  test('merged keys are not reported as repeated', () => {
    assert.deepEqual(loadYaml11('b: &b {x: 1}\nm:\n  <<: *b\n  x: 2\n').problems, []);
  });

  test('an alias bomb is refused, not expanded', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++)
      levels.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(', ')}]`,
      );
    const r = loadYaml11(`${levels.join('\n')}\n`);
    assert.equal(r.root, undefined);
    assert.match(r.problems[0]!.message, new RegExp(`past ${MAX_EXPANDED_NODES}`));
  });
});

describe('the same documents through PyYAML (the loader cloud-init uses)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ingot-yaml11-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('ingot loads what PyYAML loads, and refuses what it refuses', async (t) => {
    const python = cloudInitPython(t);
    if (!python) return;
    const extra = [
      'a: 1.\nb: -1:30.5\nc: 6.8523015e+5\nd: 685_230.15\ne: .NaN\n',
      'a: 2001-12-14t21:59:43.10-05:00\nb: 2001-12-14 21:59:43.10 -5\nc: 2002-1-1\n',
      's: !!set {a, b}\no: !!omap\n  - a: 1\n  - b: 2\n',
      'a: <<\nb: "<<"\n=: 1\n',
      'a: !!python/unicode hello\nb: !!null ""\nc: !!float "1"\n',
      'a: 0X1F\nb: 0B1\nc: 0o17\nd: -0x_1\ne: 0_\n',
      'a: !!int abc\n',
      "k: |\n  yes\nl: >\n  1\nm: 'on'\n",
      '1.5: c\nnull: d\n~: e\n',
      '',
      '# only a comment\n',
    ];
    const files: string[] = [];
    const all = [...cases.map((c) => c.yaml), ...errors.map((c) => c.yaml), ...extra];
    for (const [i, text] of all.entries()) {
      const file = path.join(dir, `case-${i}.yaml`);
      await writeFile(file, text);
      files.push(file);
    }
    const conformance = path.resolve(import.meta.dirname, '../fixtures/conformance/cloud-init');
    for (const sub of ['doc-examples', 'module-docs']) {
      for (const f of await readdir(path.join(conformance, sub), { recursive: true })) {
        if (/\.(txt|yaml)$/.test(String(f))) files.push(path.join(conformance, sub, String(f)));
      }
    }
    const oracle = path.resolve(import.meta.dirname, '../fixtures/cloud-init/oracle.py');
    const theirs = JSON.parse(execFileSync(python, [oracle, '--load', ...files], { encoding: 'utf8', maxBuffer: 64 << 20 })) as unknown[];
    assert.equal(theirs.length, files.length);
    let compared = 0;
    files.forEach((file, i) => {
      const ours = load(readFileSync(file, 'utf8'));
      const py = theirs[i] as { error?: string } | null;
      const pyFailed = py !== null && typeof py === 'object' && 'error' in py;
      const weFailed = ours !== null && typeof ours === 'object' && 'error' in (ours as object);
      assert.equal(weFailed, pyFailed, `${path.basename(file)}: ingot ${JSON.stringify(ours)} vs PyYAML ${JSON.stringify(py)}`);
      if (!pyFailed) assert.deepEqual(ours, py, path.basename(file));
      compared++;
    });
    assert.ok(compared > 180, `compared ${compared}`);
  });
});
