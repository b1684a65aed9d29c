/**
 * The bake source in the manifest, without booting anything: validation
 * with clear errors (unknown base, unknown profile, identity in set, bad
 * disk size), the fingerprint (stable, and changed by each input), the
 * recipe's scripts, the scan's result parsing and content choice.
 */
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bakeDriver, type BakeSource } from '../../src/acquire/bake.js';
import { CLEANUP_SCRIPT, BAKE_RECIPE_VERSION } from '../../src/bake/recipe.js';
import { chooseContent, parseArf, parseResults, requiredFailures } from '../../src/bake/scan.js';
import { createLogger } from '../../src/log/logger.js';
import { loadManifest } from '../../src/manifest/load.js';
import { runCli, sha256 } from '../helpers/fixtures.js';
import { BROKEN_PROFILE, TINY_PROFILE } from './workspace.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

function manifest(bake: Record<string, unknown>, digest = DIGEST): string {
  return JSON.stringify({
    apiVersion: 'ingot/v1alpha1',
    kind: 'ImageManifest',
    metadata: { name: 't' },
    spec: {
      images: [
        { name: 'debian-12', source: { type: 'file', path: 'disk.qcow2', checksum: digest }, destination: { path: 'debian-12.qcow2' } },
        { name: 'baked', source: { type: 'bake', base: 'debian-12', profiles: ['tiny'], ...bake }, destination: { path: 'baked.qcow2' } },
      ],
    },
  });
}

describe('bake source: manifest', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ingot-bake-m-'));
    await mkdir(path.join(dir, 'profiles'));
    await writeFile(path.join(dir, 'profiles', 'tiny.yaml'), TINY_PROFILE);
    await writeFile(path.join(dir, 'profiles', 'broken.yaml'), BROKEN_PROFILE);
    await writeFile(path.join(dir, 'disk.qcow2'), 'not really');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const validate = async (bake: Record<string, unknown>) => {
    await writeFile(path.join(dir, 'images.yaml'), manifest(bake));
    return runCli(['validate', '-m', path.join(dir, 'images.yaml'), '--json']);
  };
  const problems = async (bake: Record<string, unknown>) => {
    const r = await validate(bake);
    return {
      code: r.code,
      list: (JSON.parse(r.stdout) as { problems: { code: string; message: string; path: (string | number)[]; hint?: string }[] }).problems,
    };
  };

  test('a good bake source validates', async () => {
    const r = await validate({
      set: { timezone: 'UTC' },
      disk: '8GiB',
      format: 'raw',
      verify: ['true'],
      scan: { profile: 'standard', required: ['sshd_disable_root_login'] },
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  test('unknown base, unknown profile, bad disk size, identity in set: each named with where and what to do', async () => {
    const { code, list } = await problems({ base: 'debian-13', profiles: ['tiny', 'tinny'], disk: 'big', set: { user: 'alice', colour: 'blue' } });
    assert.equal(code, 2);
    const by = (needle: string) => list.find((p) => p.message.includes(needle));
    assert.match(by('debian-13')!.message, /bake base "debian-13" is not an image of this manifest; did you mean "debian-12"\?/);
    assert.deepEqual(by('debian-13')!.path, ['spec', 'images', 1, 'source', 'base']);
    assert.match(by('tinny')!.message, /unknown profile "tinny" .*did you mean "tiny"\?/);
    assert.deepEqual(by('tinny')!.path.slice(-2), ['profiles', 1]);
    assert.match(by('big')!.message, /expected a disk size such as "8GiB", got "big"/);
    assert.match(by('"user" is identity')!.hint!, /ingot launch --image/);
    assert.match(by('colour')!.message, /unknown build-time parameter "colour"/);
  });

  test('a disk under 1GiB, a kernel without initrd, a bake of itself are refused', async () => {
    const { list } = await problems({ disk: '512MiB', kernel: 'debian-12', base: 'baked' });
    assert.ok(list.some((p) => /under 1GiB/.test(p.message)));
    assert.ok(list.some((p) => /kernel and initrd go together/.test(p.message)));
    assert.ok(list.some((p) => /bake base "baked" is this image itself/.test(p.message)));
  });

  test('the schema refuses an unknown format and a missing profiles list', async () => {
    const { code, list } = await problems({ format: 'vmdk', profiles: [] });
    assert.equal(code, 2);
    assert.ok(
      list.some((p) => p.path.includes('format')),
      JSON.stringify(list),
    );
    assert.ok(
      list.some((p) => p.path.includes('profiles')),
      JSON.stringify(list),
    );
  });

  test('fingerprint: stable for the same inputs, changed by the profile, the base digest and the recipe inputs', async () => {
    const log = createLogger({ format: 'text', level: 'error', write: () => undefined });
    const fp = async (bake: Record<string, unknown>, profileText = TINY_PROFILE, digest = DIGEST) => {
      await writeFile(path.join(dir, 'profiles', 'tiny.yaml'), profileText);
      await writeFile(path.join(dir, 'images.yaml'), manifest(bake, digest));
      const loaded = await loadManifest(path.join(dir, 'images.yaml'));
      assert.ok(loaded.manifest, JSON.stringify(loaded.problems));
      const image = loaded.manifest.images.find((i) => i.name === 'baked')!;
      const ctx = { root: dir, image: 'baked', signal: new AbortController().signal, log, http: {}, env: process.env, images: loaded.manifest.images };
      return (await bakeDriver.fingerprint!(image.source as unknown as BakeSource, ctx)).value;
    };
    const a = await fp({});
    assert.equal(await fp({}), a, 'same inputs, same fingerprint (the per-build key is not part of it)');
    assert.notEqual(await fp({}, TINY_PROFILE.replace('baked by ingot', 'baked by ingot, v2')), a, 'profile content');
    assert.notEqual(await fp({ profiles: ['tiny', 'broken'] }), a, 'profile list');
    assert.notEqual(await fp({ verify: ['true'] }), a, 'verify commands');
    assert.notEqual(await fp({ set: { timezone: 'Europe/Paris' } }), a, 'build-time set');
    assert.notEqual(await fp({}, TINY_PROFILE, `sha256:${'cd'.repeat(32)}`), a, 'base digest');
    assert.match(a, /^sha256:[0-9a-f]{64}$/);
    await writeFile(path.join(dir, 'profiles', 'tiny.yaml'), TINY_PROFILE);
  });

  test('ingot bake: unknown NAME and a non-bake image are usage errors; a base that is not qcow2 fails before any boot, writing nothing', async () => {
    const fake = Buffer.from('not really');
    await writeFile(path.join(dir, 'images.yaml'), manifest({}, sha256(fake)));
    const m = path.join(dir, 'images.yaml');
    const unknown = await runCli(['bake', '-m', m, 'bakd']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no image "bakd" .*did you mean "baked"\?/);
    const notBake = await runCli(['bake', '-m', m, 'debian-12']);
    assert.equal(notBake.code, 2);
    assert.match(notBake.stderr, /comes from a file source, not bake/);
    const out = path.join(dir, 'out');
    const bad = await runCli(['bake', '-m', m, 'baked', '--out', out, '--json']);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /bake of baked failed at step "prepare": the base image is not qcow2/);
    assert.match(bad.stderr, /INGOT_BAKE_INPUT/);
    assert.deepEqual(await readdir(out).catch(() => []), [], 'nothing written');
  });

  test('the recipe cleans what makes an image someone’s', () => {
    assert.ok(BAKE_RECIPE_VERSION >= 1);
    for (const needle of [
      'userdel',
      'ssh_host_',
      'authorized_keys',
      '.bash_history',
      'cloud-init clean --logs --seed',
      '/etc/machine-id',
      'random-seed',
      '/var/lib/apt/lists',
      '/var/log',
    ]) {
      assert.ok(CLEANUP_SCRIPT.includes(needle), needle);
    }
  });

  test('scan: results parsed, required failures matched by short or full id, content adapted for a newer Debian', async () => {
    const out =
      'Title\tA\nRule\txccdf_org.ssgproject.content_rule_a\nResult\tpass\n\nRule\txccdf_org.ssgproject.content_rule_b\nResult\tfail\n\nRule\tx_c\nResult\tnotapplicable\n';
    const parsed = parseResults(out);
    assert.deepEqual(parsed.counts, { pass: 1, fail: 1, notapplicable: 1 });
    assert.deepEqual(requiredFailures(['a', 'b', 'xccdf_org.ssgproject.content_rule_b'], parsed.failed), ['b', 'xccdf_org.ssgproject.content_rule_b']);
    const arf =
      '<TestResult><rule-result idref="r_a" role="full"><result>pass</result></rule-result><rule-result idref="r_b"><result>fail</result></rule-result><rule-result idref="r_c"><result>notselected</result></rule-result></TestResult>';
    assert.deepEqual(parseArf(arf), { counts: { pass: 1, fail: 1, notapplicable: 0 }, failed: ['r_b'] });
    const content = path.join(dir, 'content');
    await mkdir(content);
    await writeFile(path.join(content, 'ssg-debian11-ds.xml'), '<x><ind:pattern operation="pattern match">^11.[0-9]+$</ind:pattern></x>');
    const chosen = await chooseContent(12, dir, content);
    assert.equal(chosen.adaptedFrom, 'ssg-debian11-ds.xml');
    assert.match(await readFile(chosen.file, 'utf8'), /\^12\.\[0-9\]\+\$/);
    assert.equal((await chooseContent(11, dir, content)).adaptedFrom, undefined);
    await assert.rejects(chooseContent(10, dir, content), /no SCAP Security Guide content for Debian 10/);
  });
});
