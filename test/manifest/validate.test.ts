import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkManifest } from '../../src/manifest/load.js';
import { manifestJsonSchema } from '../../src/manifest/schema.js';
import { plainJson } from '../../src/manifest/yaml.js';
import { parse as parseYamlText } from 'yaml';

/** The value of one image block written by image(). */
const parseYamlValue = (block: string) => parseYamlText(block.replace(/^ {4}- /, '').replace(/^ {6}/gm, '')) as Record<string, unknown>;
import { runCli, tempDir } from '../helpers/fixtures.js';
import { run } from '../../src/exec/run.js';

const HEX = 'a'.repeat(64);
const HEX2 = 'b'.repeat(64);

const header = `apiVersion: ingot/v1alpha1
kind: ImageManifest
metadata:
  name: t
spec:
  images:
`;

/** One image block (indented for the images list). */
function image(body: string): string {
  return body
    .trim()
    .split('\n')
    .map((l, i) => (i === 0 ? `    - ${l}` : `      ${l}`))
    .join('\n');
}

const good = image(`name: talos
source:
  type: https
  url: https://example.org/talos.raw.xz
  checksum: sha256:${HEX}
  decompress: xz
destination:
  path: talos/talos.raw
validation:
  expected: sha256:${HEX2}`);

interface Case {
  name: string;
  text: string;
  code: string;
  line: number;
  image?: string;
  message?: RegExp;
}

const cases: Case[] = [
  {
    name: 'http:// URL',
    text: header + image(`name: a\nsource: { type: https, url: "http://example.org/a.iso", checksum: "sha256:${HEX}" }\ndestination: { path: a.iso }`),
    code: 'https-only',
    line: 8,
    image: 'a',
    message: /expected an https:\/\/ URL/,
  },
  {
    name: 'type http with an http URL',
    text: header + image(`name: a\nsource:\n  type: http\n  url: http://example.org/a.iso\n  checksum: sha256:${HEX}\ndestination: { path: a.iso }`),
    code: 'https-only',
    line: 10,
  },
  {
    name: 'ftp URL',
    text: header + image(`name: a\nsource: { type: https, url: "ftp://example.org/a.iso", checksum: "sha256:${HEX}" }\ndestination: { path: a.iso }`),
    code: 'https-only',
    line: 8,
  },
  {
    name: 'missing checksum',
    text: header + image(`name: a\nsource:\n  type: https\n  url: https://example.org/a.iso\ndestination: { path: a.iso }`),
    code: 'checksum-required',
    line: 9,
  },
  {
    name: 'decompress without validation.expected',
    text:
      header +
      image(`name: a\nsource:\n  type: https\n  url: https://example.org/a.xz\n  checksum: sha256:${HEX}\n  decompress: xz\ndestination: { path: a.raw }`),
    code: 'expected-required',
    line: 12,
  },
  {
    name: 'unknown algorithm in checksum',
    text: header + image(`name: a\nsource:\n  type: https\n  url: https://example.org/a.iso\n  checksum: md5:${'a'.repeat(32)}\ndestination: { path: a.iso }`),
    code: 'digest-malformed',
    line: 11,
    message: /unknown digest algorithm "md5"/,
  },
  {
    name: 'unknown validation.algorithm',
    text:
      header +
      image(`name: a\nsource: { type: https, url: "https://e.org/a", checksum: "sha256:${HEX}" }\ndestination: { path: a }\nvalidation: { algorithm: sha1 }`),
    code: 'schema',
    line: 10,
  },
  {
    name: 'hex of the wrong length',
    text: header + image(`name: a\nsource: { type: https, url: "https://e.org/a", checksum: "sha256:abc" }\ndestination: { path: a }`),
    code: 'digest-malformed',
    line: 8,
    message: /64 hex digits, got 3/,
  },
  {
    name: 'non-hex digest',
    text: header + image(`name: a\nsource: { type: https, url: "https://e.org/a", checksum: "sha256:${'z'.repeat(64)}" }\ndestination: { path: a }`),
    code: 'digest-malformed',
    line: 8,
  },
  {
    name: 'digest without algorithm',
    text: header + image(`name: a\nsource: { type: https, url: "https://e.org/a", checksum: "${HEX}" }\ndestination: { path: a }`),
    code: 'digest-malformed',
    line: 8,
  },
  {
    name: 'sha512 of the wrong length',
    text: header + image(`name: a\nsource: { type: https, url: "https://e.org/a", checksum: "sha512:${HEX}" }\ndestination: { path: a }`),
    code: 'digest-malformed',
    line: 8,
    message: /128 hex digits/,
  },
  {
    name: 'algorithm disagrees with expected digest',
    text:
      header +
      image(`name: a\nsource: { type: https, url: "https://e.org/a", checksum: "sha256:${HEX}" }\ndestination: { path: a }\nvalidation: { algorithm: sha512 }`),
    code: 'algorithm-mismatch',
    line: 10,
  },
  {
    name: 'duplicate names',
    text: `${header + good}\n${image(`name: talos\nsource: { type: https, url: "https://e.org/b", checksum: "sha256:${HEX}" }\ndestination: { path: b }`)}`,
    code: 'duplicate-name',
    line: 17,
  },
  {
    name: 'duplicate destination paths',
    text: `${header + good}\n${image(`name: other\nsource: { type: https, url: "https://e.org/b", checksum: "sha256:${HEX}" }\ndestination: { path: talos/talos.raw }`)}`,
    code: 'duplicate-destination',
    line: 19,
  },
  ...[
    ['absolute path', '/etc/passwd', /relative/],
    ['.. segment', 'a/../../b', /\.\./],
    ['backslash', 'a\\\\b', /backslash/],
    ['empty segment', 'a//b', /empty segments/],
    ['trailing slash', 'a/b/', /empty segments/],
    ['dot segment', './a', /normalised/],
    ['windows drive', 'C:/a', /relative/],
  ].map(
    ([what, path, message]): Case => ({
      name: `destination path: ${String(what)}`,
      text: header + image(`name: a\nsource: { type: https, url: "https://e.org/a", checksum: "sha256:${HEX}" }\ndestination:\n  path: "${String(path)}"`),
      code: 'unsafe-path',
      line: 10,
      message: message as RegExp,
    }),
  ),
  {
    name: 'typo in a field gets a suggestion',
    text: header + image(`name: a\nsource: { type: https, url: "https://e.org/a", checksum: "sha256:${HEX}" }\ndestinaton: { path: a }`),
    code: 'unknown-field',
    line: 9,
    message: /did you mean "destination"/,
  },
  {
    name: 'typo in a source field',
    text: header + image(`name: a\nsource: { type: https, url: "https://e.org/a", checksum: "sha256:${HEX}", decompres: xz }\ndestination: { path: a }`),
    code: 'unknown-field',
    line: 8,
    message: /did you mean "decompress"/,
  },
  {
    name: 'unknown source type',
    text: header + image(`name: a\nsource: { type: htps, url: "https://e.org/a" }\ndestination: { path: a }`),
    code: 'schema',
    line: 8,
    message: /did you mean "https"/,
  },
  { name: 'YAML syntax error', text: `${header}    - name: a: b\n`, code: 'yaml-syntax', line: 7 },
  {
    name: 'duplicate keys',
    text: header + image(`name: a\nname: b\nsource: { type: https, url: "https://e.org/a", checksum: "sha256:${HEX}" }\ndestination: { path: a }`),
    code: 'yaml-duplicate-key',
    line: 8,
  },
  {
    name: 'alias bomb',
    text: 'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n',
    code: 'yaml-alias-limit',
    line: 1,
  },
  { name: 'wrong apiVersion', text: header.replace('ingot/v1alpha1', 'ingot/v2') + good, code: 'schema', line: 1 },
  { name: 'missing spec.images', text: header.replace('  images:\n', '  defaults: {}\n'), code: 'missing-field', line: 6 },
  {
    name: 'file source escaping the manifest directory',
    text: header + image(`name: a\nsource: { type: file, path: "../secret.img", checksum: "sha256:${HEX}" }\ndestination: { path: a }`),
    code: 'unsafe-path',
    line: 8,
  },
  {
    name: 'file source without checksum',
    text: header + image(`name: a\nsource: { type: file, path: "a.img" }\ndestination: { path: a }`),
    code: 'checksum-required',
    line: 8,
  },
  {
    name: 'expected differs from checksum without decompress',
    text:
      header +
      image(
        `name: a\nsource: { type: https, url: "https://e.org/a", checksum: "sha256:${HEX}" }\ndestination: { path: a }\nvalidation: { expected: "sha256:${HEX2}" }`,
      ),
    code: 'digest-malformed',
    line: 10,
  },
  {
    name: 'bad size',
    text:
      header +
      image(`name: a\nsource: { type: https, url: "https://e.org/a", checksum: "sha256:${HEX}", maxDecompressedSize: "lots" }\ndestination: { path: a }`),
    code: 'size-malformed',
    line: 8,
  },
  {
    name: 'credentials in the URL',
    text: header + image(`name: a\nsource: { type: https, url: "https://u:p@e.org/a", checksum: "sha256:${HEX}" }\ndestination: { path: a }`),
    code: 'https-only',
    line: 8,
  },
];

describe('manifest rules', () => {
  for (const c of cases) {
    it(`rejects: ${c.name}`, () => {
      const result = checkManifest(c.text, '/tmp/images.yaml');
      assert.equal(result.manifest, undefined, 'manifest should be rejected');
      const problem = result.problems.find((p) => p.code === c.code);
      assert.ok(problem, `expected a ${c.code} problem, got ${JSON.stringify(result.problems.map((p) => [p.code, p.message]))}`);
      assert.equal(problem.line, c.line, `line of ${problem.message}`);
      assert.ok(problem.column >= 1);
      if (c.image) assert.equal(problem.image, c.image);
      if (c.message) assert.match(problem.message, c.message);
    });
  }

  it('a JSON manifest (read by the JSON.parse fast path) gives the same manifest, problems and positions as YAML', () => {
    const yamlText = header + good;
    const fromYaml = checkManifest(yamlText, '/tmp/x/images.yaml');
    const value = { apiVersion: 'ingot/v1alpha1', kind: 'ImageManifest', metadata: { name: 't' }, spec: { images: [parseYamlValue(good)] } };
    const jsonText = JSON.stringify(value, null, 2);
    assert.notEqual(plainJson(jsonText), undefined, 'the fast path takes it');
    const fromJson = checkManifest(jsonText, '/tmp/x/images.yaml');
    assert.deepEqual(fromJson.problems, []);
    assert.deepEqual({ ...fromJson.manifest!.images[0], line: 0, driver: 0 }, { ...fromYaml.manifest!.images[0], line: 0, driver: 0 });
    // The line is found when asked, in the JSON text.
    assert.equal(
      fromJson.manifest!.images[0]!.line,
      jsonText.split('\n').findIndex((l) => l.includes('"name": "talos"')),
    );
    // A problem in JSON is placed at its line and column.
    const bad = JSON.stringify({ ...value, spec: { images: [{ ...value.spec.images[0], destination: { path: '/abs' } }] } }, null, 2);
    const problem = checkManifest(bad, '/tmp/x/images.yaml').problems.find((p) => p.code === 'unsafe-path');
    assert.equal(problem?.line, bad.split('\n').findIndex((l) => l.includes('"/abs"')) + 1);
  });

  it('a JSON manifest is validated and planned without loading the YAML library (~20 ms of a start); a YAML one loads it', async () => {
    const main = new URL('../../dist/src/cli/main.js', import.meta.url).href;
    const value = { apiVersion: 'ingot/v1alpha1', kind: 'ImageManifest', metadata: { name: 't' }, spec: { images: [parseYamlValue(good)] } };
    const loads = async (text: string, args: string[]) => {
      const dir = tempDir('ingot-lazy-yaml-');
      writeFileSync(join(dir, 'images.yaml'), text);
      const script = [
        "import { createRequire } from 'node:module';",
        `const { main } = await import(${JSON.stringify(main)});`,
        `const code = await main({ argv: ${JSON.stringify(args)}, env: process.env, cwd: process.cwd(), stdout: process.stdout, stderr: process.stderr });`,
        "const loaded = Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/node_modules/yaml/'));",
        'console.error(`RESULT ${JSON.stringify({ code, loaded })}`);',
      ].join('\n');
      const result = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, reject: false, timeoutMs: 30_000 });
      const line = result.stderr.split('\n').find((l) => l.startsWith('RESULT '));
      assert.ok(line, result.stderr);
      return JSON.parse(line.slice(7)) as { code: number; loaded: boolean };
    };
    assert.deepEqual(await loads(JSON.stringify(value), ['validate']), { code: 0, loaded: false });
    assert.deepEqual(await loads(JSON.stringify(value), ['sync', '--dry-run']), { code: 0, loaded: false });
    assert.deepEqual(await loads(header + good, ['validate']), { code: 0, loaded: true });
  });

  it('a JSON manifest with a duplicate key is not taken by the fast path: YAML reports it with its position', () => {
    const text = `{\n  "apiVersion": "ingot/v1alpha1",\n  "kind": "ImageManifest",\n  "kind": "ImageManifest",\n  "metadata": { "name": "t" }, "spec": { "images": [] }\n}`;
    assert.equal(plainJson(text), undefined);
    // Keys inside strings, escaped quotes and colons in values do not confuse the count.
    assert.deepEqual(plainJson('{"a": "x\\": y", "b": {"c": ["\\"d\\":"]}}')?.value, { a: 'x": y', b: { c: ['"d":'] } });
    const problem = checkManifest(text, '/tmp/images.yaml').problems.find((p) => p.code === 'yaml-duplicate-key');
    assert.equal(problem?.line, 4);
  });

  it('reports every problem at once, across images', () => {
    const text =
      header +
      image(`name: a\nsource: { type: https, url: "http://e.org/a" }\ndestination: { path: /abs }`) +
      '\n' +
      image(`name: b\nsource: { type: https, url: "https://e.org/b", checksum: "sha256:1" }\ndestinaton: { path: b }`);
    const codes = checkManifest(text, '/tmp/images.yaml')
      .problems.map((p) => p.code)
      .sort();
    assert.deepEqual(codes, ['checksum-required', 'digest-malformed', 'https-only', 'missing-field', 'unknown-field', 'unsafe-path']);
  });

  it('normalises defaults', () => {
    const text =
      header +
      good +
      '\n' +
      image(
        `name: iso\nsource: { type: http, url: "https://e.org/x.iso", checksum: "SHA256:${HEX.toUpperCase()}" }\ndestination: { path: x.iso }`.replace(
          'SHA256',
          'sha256',
        ),
      );
    const { manifest, problems } = checkManifest(text, '/tmp/x/images.yaml');
    assert.deepEqual(problems, []);
    assert.ok(manifest);
    const [talos, iso] = manifest.images;
    assert.equal(talos!.key, 'images/talos/talos.raw');
    assert.equal(talos!.expected, `sha256:${HEX2}`);
    assert.equal(talos!.sourceChecksum, `sha256:${HEX}`);
    assert.equal(iso!.source.type, 'https', 'http is a synonym of https');
    assert.equal(iso!.expected, `sha256:${HEX}`, 'expected defaults to the lower-cased source checksum');
    assert.equal(iso!.algorithm, 'sha256');
    assert.equal(manifest.dir, '/tmp/x');
  });

  it('honours destinationPrefix and sha512', () => {
    const text =
      header.replace('spec:\n', `spec:\n  defaults:\n    destinationPrefix: isos\n`) +
      image(`name: a\nsource: { type: https, url: "https://e.org/a", checksum: "sha512:${'c'.repeat(128)}" }\ndestination: { path: a.iso }`);
    const { manifest } = checkManifest(text, '/tmp/images.yaml');
    assert.equal(manifest?.images[0]?.key, 'isos/a.iso');
    assert.equal(manifest?.images[0]?.algorithm, 'sha512');
  });

  it('refuses reserved prefixes', () => {
    const text = header.replace('spec:\n', `spec:\n  defaults:\n    destinationPrefix: metadata/\n`) + good;
    assert.equal(checkManifest(text, '/tmp/images.yaml').problems[0]?.code, 'reserved-destination');
  });
});

describe('ingot validate (CLI)', () => {
  it('prints file:line:col with a caret and exits 2', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'images.yaml'), cases[0]!.text);
    const r = await runCli(['validate'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stdout, /images\.yaml:8:\d+: error: expected an https:\/\/ URL/);
    assert.match(r.stdout, /\^/);
    assert.match(r.stdout, /hint: /);
  });

  it('gives the same problems as JSON', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'm.yaml'), cases[3]!.text);
    const r = await runCli(['validate', '-m', 'm.yaml', '--json'], { cwd: dir });
    assert.equal(r.code, 2);
    const data = JSON.parse(r.stdout);
    assert.equal(data.valid, false);
    assert.deepEqual(Object.keys(data.problems[0]).sort(), ['code', 'column', 'file', 'hint', 'image', 'line', 'message', 'path', 'severity']);
    assert.equal(data.problems[0].code, 'checksum-required');
    assert.deepEqual(data.problems[0].path, ['spec', 'images', 0, 'source']);
  });

  it('exits 0 for a valid manifest and 2 for a missing one', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'images.yaml'), header + good);
    assert.equal((await runCli(['validate'], { cwd: dir })).code, 0);
    const missing = await runCli(['validate', '-m', 'nope.yaml'], { cwd: dir });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read manifest .*nope\.yaml: ENOENT/);
  });

  it('unknown options and commands are usage errors with suggestions', async () => {
    const r = await runCli(['sync', '--dryrun']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /did you mean --dry-run/);
    const c = await runCli(['snyc']);
    assert.equal(c.code, 2);
    assert.match(c.stderr, /did you mean "sync"/);
  });
});

describe('JSON Schema', () => {
  it('ships up to date with the code', async () => {
    const shipped = JSON.parse(readFileSync(new URL('../../schema/images.schema.json', import.meta.url), 'utf8'));
    assert.deepEqual(shipped, manifestJsonSchema(), 'run `node dist/src/bin.js schema > schema/images.schema.json`');
    const r = await runCli(['schema']);
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(r.stdout), shipped);
  });

  it('describes sources and rejects unknown keys', () => {
    const schema = JSON.stringify(manifestJsonSchema());
    assert.match(schema, /"additionalProperties":false/);
    assert.match(schema, /destinationPrefix/);
    assert.match(schema, /"https","http"/);
  });
});
