/**
 * Every generated cloud template passes the real `packer validate` with no
 * credentials. Placeholders that some builders insist on (Alibaba keys, OCI
 * OCIDs and a PKCS#1 API key) are made here, in the test — the shipped
 * templates never contain any. Also: `ingot packer init` / `validate` through
 * the CLI, diagnostics with file and line, and `ingot packer doctor`.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { run } from '../../src/exec/run.js';
import { CLOUDS } from '../../src/packer/config.js';
import { runPackerValidate } from '../../src/packer/validate.js';
import { needTool } from '../helpers/tools.js';
import { runMain } from './helpers.js';

/** A clean environment: no cloud credentials, an empty HOME. */
function bareEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: mkdtempSync(join(tmpdir(), 'ingot-home-')) };
}

/** Test-only placeholders per cloud: variables and environment. */
function placeholders(cloud: string, home: string): { variables: Record<string, string>; env: Record<string, string> } {
  if (cloud === 'gcp') return { variables: { project_id: 'placeholder-project' }, env: {} };
  if (cloud === 'alibaba') return { variables: {}, env: { ALICLOUD_ACCESS_KEY: 'placeholder-access', ALICLOUD_SECRET_KEY: 'placeholder-secret' } };
  if (cloud === 'oci') {
    const dir = join(home, 'oci-placeholder');
    mkdirSync(dir, { recursive: true });
    const { privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    writeFileSync(join(dir, 'key.pem'), privateKey, { mode: 0o600 });
    writeFileSync(
      join(dir, 'config'),
      [
        '[DEFAULT]',
        'user=ocid1.user.oc1..aaaaaaaaplaceholder',
        'fingerprint=00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff',
        'tenancy=ocid1.tenancy.oc1..aaaaaaaaplaceholder',
        'region=us-ashburn-1',
        `key_file=${join(dir, 'key.pem')}`,
        '',
      ].join('\n'),
    );
    return {
      variables: {
        oci_config_file: join(dir, 'config'),
        compartment_ocid: 'ocid1.compartment.oc1..aaaaaaaaplaceholder',
        subnet_ocid: 'ocid1.subnet.oc1..aaaaaaaaplaceholder',
        availability_domain: 'Uocm:US-ASHBURN-AD-1',
        base_image_ocid: 'ocid1.image.oc1..aaaaaaaaplaceholder',
      },
      env: {},
    };
  }
  return { variables: {}, env: {} };
}

describe('generated cloud templates (real packer)', () => {
  for (const cloud of CLOUDS) {
    it(`${cloud}: ingot packer init, then packer validate passes and packer fmt -check is clean`, async (t) => {
      if (!needTool(t, 'packer')) return;
      const out = mkdtempSync(join(tmpdir(), `ingot-${cloud}-`));
      const init = await runMain(['packer', 'init', '--cloud', cloud, '--out', out, '--force'], { cwd: out });
      assert.equal(init.code, 0, init.stderr);
      const template = readFileSync(join(out, 'image.pkr.hcl'), 'utf8');
      assert.doesNotMatch(template, /placeholder|ocid1\.|BEGIN RSA/, 'no placeholders shipped');
      const env = bareEnv();
      const ph = placeholders(cloud, env.HOME!);
      const result = await runPackerValidate(out, { variables: ph.variables, env: { ...env, ...ph.env } });
      assert.equal(result.ok, true, result.output);
      assert.deepEqual(
        result.diagnostics.filter((d) => d.severity === 'error'),
        [],
      );
      const fmt = await run('packer', ['fmt', '-check', '.'], { cwd: out, reject: false, env: { ...env, CHECKPOINT_DISABLE: '1' } });
      assert.equal(fmt.exitCode, 0, `packer fmt would change: ${fmt.stdout}`);
    });
  }

  it('init refuses to overwrite without --force and rejects an unknown cloud', async () => {
    const out = mkdtempSync(join(tmpdir(), 'ingot-init-'));
    assert.equal((await runMain(['packer', 'init', '--cloud', 'aws', '--out', out], { cwd: out })).code, 0);
    const before = readFileSync(join(out, 'image.pkr.hcl'), 'utf8');
    writeFileSync(join(out, 'scripts', 'init.sh'), 'edited');
    const again = await runMain(['packer', 'init', '--cloud', 'aws', '--out', out], { cwd: out });
    assert.equal(again.code, 2);
    assert.match(again.stderr, /refusing to overwrite/);
    assert.match(again.stderr, /INGOT_EXISTS/);
    assert.equal(readFileSync(join(out, 'scripts', 'init.sh'), 'utf8'), 'edited', 'nothing written');
    assert.equal((await runMain(['packer', 'init', '--cloud', 'aws', '--out', out, '--force'], { cwd: out })).code, 0);
    assert.notEqual(readFileSync(join(out, 'scripts', 'init.sh'), 'utf8'), 'edited');
    assert.equal(readFileSync(join(out, 'image.pkr.hcl'), 'utf8'), before);
    const bad = await runMain(['packer', 'init', '--cloud', 'ibm', '--out', out], { cwd: out });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown cloud "ibm"/);
  });

  it('init with --config: edited config, custom script, bad config reported with line', async () => {
    const out = mkdtempSync(join(tmpdir(), 'ingot-cfg-'));
    assert.equal((await runMain(['packer', 'init', '--cloud', 'gcp', '--out', join(out, 'first')], { cwd: out })).code, 0);
    const example = readFileSync(join(out, 'first', 'ingot-packer.yaml'), 'utf8');
    writeFileSync(join(out, 'extra.sh'), '#!/bin/sh\necho extra\n');
    writeFileSync(join(out, 'cfg.yaml'), example.replace('name: ingot-base', 'name: team-image').replace('scripts: []', 'scripts: [extra.sh]'));
    const ok = await runMain(['packer', 'init', '--cloud', 'gcp', '--config', 'cfg.yaml', '--out', 'second'], { cwd: out });
    assert.equal(ok.code, 0, ok.stderr);
    const hcl = readFileSync(join(out, 'second', 'image.pkr.hcl'), 'utf8');
    assert.match(hcl, /default\s+= "team-image"/);
    assert.match(hcl, /scripts\/custom\/01-extra\.sh/);
    assert.equal(readFileSync(join(out, 'second', 'scripts', 'custom', '01-extra.sh'), 'utf8'), '#!/bin/sh\necho extra\n');
    writeFileSync(join(out, 'bad.yaml'), example.replace('diskSizeGb: 30', 'diskSizeGb: lots'));
    const bad = await runMain(['packer', 'init', '--cloud', 'gcp', '--config', 'bad.yaml', '--out', 'third'], { cwd: out });
    assert.equal(bad.code, 2);
    const line = example.split('\n').findIndex((l) => l.includes('diskSizeGb')) + 1;
    assert.match(bad.stderr, new RegExp(`bad\\.yaml:${line}:\\d+: build\\.diskSizeGb`));
  });

  it('validate reports packer diagnostics with file and line; --syntax-only skips semantics', async (t) => {
    if (!needTool(t, 'packer')) return;
    const out = mkdtempSync(join(tmpdir(), 'ingot-bad-'));
    assert.equal((await runMain(['packer', 'init', '--cloud', 'aws', '--out', out], { cwd: out })).code, 0);
    const file = join(out, 'image.pkr.hcl');
    const lines = readFileSync(file, 'utf8').split('\n');
    const at = lines.findIndex((l) => l.includes('ami_description')) + 1;
    lines.splice(at, 0, '  no_such_argument = true');
    writeFileSync(file, lines.join('\n'));
    const result = await runMain(['packer', 'validate', out, '--json'], { cwd: out });
    assert.equal(result.code, 2, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.equal(report.valid, false);
    const diag = report.diagnostics.find((d: { summary: string }) => /Unsupported argument/.test(d.summary));
    assert.ok(diag, result.stdout);
    assert.equal(diag.file, 'image.pkr.hcl');
    assert.equal(diag.line, at + 1, 'the line of the inserted argument');
    assert.match(diag.detail, /no_such_argument/);
    const text = await runMain(['packer', 'validate', out], { cwd: out });
    assert.match(text.stdout, new RegExp(`image\\.pkr\\.hcl:${at + 1}: error: Unsupported argument`));
    const syntax = await runMain(['packer', 'validate', out, '--syntax-only'], { cwd: out });
    assert.equal(syntax.code, 0, syntax.stdout + syntax.stderr);
  });

  it('doctor reports each cloud and exits 1 only when packer is missing', async (t) => {
    const packer = needTool(t, 'packer');
    if (!packer) return;
    const home = mkdtempSync(join(tmpdir(), 'ingot-doc-'));
    const withPacker = await runMain(['packer', 'doctor', '--json'], {
      cwd: home,
      env: { PATH: process.env.PATH, HOME: home, ALICLOUD_ACCESS_KEY: 'k', ALICLOUD_SECRET_KEY: 'do-not-print-me' },
    });
    assert.equal(withPacker.code, 0, withPacker.stderr);
    const report = JSON.parse(withPacker.stdout);
    assert.equal(report.packer.ok, true);
    assert.deepEqual(
      report.clouds.map((c: { cloud: string }) => c.cloud),
      [...CLOUDS],
    );
    const ali = report.clouds.find((c: { cloud: string }) => c.cloud === 'alibaba');
    assert.equal(ali.credentials.ok, true);
    assert.equal(report.clouds.find((c: { cloud: string }) => c.cloud === 'aws').credentials.ok, false, 'empty HOME and env: no AWS credentials');
    assert.ok(!withPacker.stdout.includes('do-not-print-me'));
    const empty = mkdtempSync(join(tmpdir(), 'ingot-nopath-'));
    const without = await runMain(['packer', 'doctor'], { cwd: home, env: { PATH: empty, HOME: home } });
    assert.equal(without.code, 1);
    assert.match(without.stdout, /missing packer/);
    assert.match(without.stdout, /apt-get install packer/);
  });
});
