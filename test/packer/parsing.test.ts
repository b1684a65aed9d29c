/** Pure codecs: machine-readable events, validate diagnostics (recorded from packer 1.6.6), fingerprints. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildFingerprint, templateDigest } from '../../src/packer/fingerprint.js';
import { ArtifactCollector, escapeField, parseMachineLine, uiText } from '../../src/packer/machine-readable.js';
import { packerBuildArgs, parsePackerVersion, secretValues } from '../../src/packer/runner.js';
import { parseDiagnostics } from '../../src/packer/validate.js';

describe('machine-readable output', () => {
  it('decodes commas and newlines inside data fields', () => {
    const message = 'a, b\nsecond line, with comma';
    const line = `1795319136,,ui,say,${escapeField(message)}`;
    const event = parseMachineLine(line)!;
    assert.equal(event.time, 1795319136);
    assert.equal(event.target, '');
    assert.deepEqual(uiText(event), { kind: 'say', text: message });
    assert.equal(parseMachineLine('panic: runtime error'), undefined);
  });

  it('collects artifacts per build, with files', () => {
    const collector = new ArtifactCollector();
    const lines = [
      '1,file.main,artifact-count,1',
      '1,file.main,artifact,0,builder-id,packer.file',
      '1,file.main,artifact,0,id,File',
      `1,file.main,artifact,0,string,${escapeField('Stored file: output/b,1.txt')}`,
      '1,file.main,artifact,0,files-count,2',
      `1,file.main,artifact,0,file,0,${escapeField('output/b,1.txt')}`,
      '1,file.main,artifact,0,file,1,output/c.txt',
      '1,file.main,artifact,0,end',
      '1,null.x,artifact,0,builder-id,fnoeding.null',
    ];
    for (const l of lines) collector.add(parseMachineLine(l)!);
    assert.deepEqual(collector.list(), [
      {
        build: 'file.main',
        index: 0,
        builderId: 'packer.file',
        id: 'File',
        description: 'Stored file: output/b,1.txt',
        files: ['output/b,1.txt', 'output/c.txt'],
      },
      { build: 'null.x', index: 0, builderId: 'fnoeding.null', files: [] },
    ]);
  });

  it('secret values are scrubbed in raw and escaped forms, longest first', () => {
    const secrets = secretValues({ a: 'pa,ss\nword', b: 'short', c: 'public' }, new Set(['a', 'b']));
    assert.ok(secrets.includes('pa,ss\nword') && secrets.includes(escapeField('pa,ss\nword')) && secrets.includes('short'));
    assert.ok(!secrets.includes('public'));
    assert.ok(secrets.every((s, i) => i === 0 || secrets[i - 1]!.length >= s.length));
  });

  it('argv carries flags only', () => {
    assert.deepEqual(packerBuildArgs({ only: ['a.b', 'c.d'], onError: 'run-cleanup-provisioner', force: true }), [
      'build',
      '-machine-readable',
      '-color=false',
      '-only=a.b,c.d',
      '-on-error=run-cleanup-provisioner',
      '-force',
      '.',
    ]);
    assert.equal(parsePackerVersion('Packer v1.6.6\n'), '1.6.6');
    assert.equal(parsePackerVersion('Packer v1.11.2\n\nYour version of Packer is out of date!'), '1.11.2');
  });
});

describe('packer validate diagnostics', () => {
  // Recorded from packer 1.6.6 (`packer validate .`).
  const recorded = [
    'Error: Unsupported argument',
    '',
    '  on bad.pkr.hcl line 3:',
    '  (source code not available)',
    '',
    'An argument named "bogus" is not expected here.',
    '',
    'Error: 4 error(s) occurred:',
    '',
    "* 'user_ocid' must be specified",
    "* 'tenancy_ocid' must be specified",
    '',
    '  on t.pkr.hcl line 13:',
    '  (source code not available)',
    '',
    'Warning: Deprecated',
    '',
    '  on vars.pkr.hcl line 7, in variable "x":',
    '',
    'Something old.',
    '',
    'Error: Unset variable "compartment_ocid"',
    '',
    'A used variable must be set or have a default value.',
  ].join('\n');

  it('parses summary, file, line and detail; splits bullet lists', () => {
    const diags = parseDiagnostics(recorded);
    assert.deepEqual(diags, [
      { severity: 'error', summary: 'Unsupported argument', detail: 'An argument named "bogus" is not expected here.', file: 'bad.pkr.hcl', line: 3 },
      { severity: 'error', summary: "'user_ocid' must be specified", file: 't.pkr.hcl', line: 13 },
      { severity: 'error', summary: "'tenancy_ocid' must be specified", file: 't.pkr.hcl', line: 13 },
      { severity: 'warning', summary: 'Deprecated', detail: 'Something old.', file: 'vars.pkr.hcl', line: 7 },
      { severity: 'error', summary: 'Unset variable "compartment_ocid"', detail: 'A used variable must be set or have a default value.' },
    ]);
  });
});

describe('template fingerprints', () => {
  it('cover template files, skip the output dir and packer_cache, never follow symlinks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ingot-fp-'));
    writeFileSync(join(dir, 'a.pkr.hcl'), 'source "null" "x" {}\n');
    mkdirSync(join(dir, 'scripts'));
    writeFileSync(join(dir, 'scripts', 'x.sh'), 'echo 1\n');
    const base = await templateDigest(dir, ['output']);
    assert.equal(base.files, 2);
    mkdirSync(join(dir, 'output'));
    writeFileSync(join(dir, 'output', 'disk.raw'), 'built');
    mkdirSync(join(dir, 'packer_cache'));
    writeFileSync(join(dir, 'packer_cache', 'iso'), 'cached');
    assert.deepEqual(await templateDigest(dir, ['output']), base, 'outputs and caches do not count');
    writeFileSync(join(dir, 'scripts', 'x.sh'), 'echo 2\n');
    const edited = await templateDigest(dir, ['output']);
    assert.notEqual(edited.digest, base.digest);
    symlinkSync('/etc/hostname', join(dir, 'link'));
    const linked = await templateDigest(dir, ['output']);
    assert.equal(linked.files, 3);
    assert.notEqual(linked.digest, edited.digest);
  });

  it('depend on variables, packer version, only and artifact but not on sensitive values', () => {
    const input = { templateDigest: 'sha256:00', packerVersion: '1.6.6', variables: { a: '1', pw: 'x' }, sensitive: new Set(['pw']), artifact: 'output/d.raw' };
    const fp = buildFingerprint(input);
    assert.match(fp, /^sha256:[0-9a-f]{64}$/);
    assert.equal(buildFingerprint({ ...input, variables: { pw: 'other', a: '1' } }), fp, 'sensitive value and key order do not matter');
    for (const changed of [
      { ...input, variables: { a: '2', pw: 'x' } },
      { ...input, packerVersion: '1.7.0' },
      { ...input, templateDigest: 'sha256:01' },
      { ...input, only: ['null.main'] },
      { ...input, artifact: 'output/e.raw' },
      { ...input, sensitive: new Set<string>() },
    ]) {
      assert.notEqual(buildFingerprint(changed), fp, JSON.stringify({ ...changed, sensitive: [...changed.sensitive] }));
    }
  });
});
