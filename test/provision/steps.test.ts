/**
 * Post-launch steps as an ordered list in profiles, units that enable or
 * start, and where downloads run: parsing (defaults, positions in errors),
 * merging across includes, and the rendered runcmd order.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { IngotError } from '../../src/errors.js';
import { resolveProfile } from '../../src/provision/merge.js';
import { parseProfile } from '../../src/provision/profile.js';
import { renderUserData } from '../../src/provision/render.js';
import { STEP_DEFAULTS } from '../../src/provision/steps.js';
import { parseVersions } from '../../src/provision/versions.js';

const SHA = 'a'.repeat(64);
const versions = parseVersions(
  `kind: Versions\npins:\n  tool:\n    version: '1'\n    url: https://example.org/tool-1.tar.gz\n    sha256: ${SHA}\n  pkg:\n    version: '2'\n    url: https://example.org/pkg_2_amd64.deb\n    sha256: ${SHA}\n  later:\n    version: '3'\n    url: https://example.org/later\n    sha256: null\n`,
  'versions.yaml',
);

describe('post-launch steps in profiles', () => {
  const file = '/profiles/app.yaml';
  const parseSteps = (launch: string) => parseProfile(`kind: Profile\nlaunch:\n${launch}`, file).parts.launch;

  test("000's Phase 2, in its order, with defaults and options", () => {
    const steps = parseSteps(
      [
        '  - transfer: ./bundle',
        '    to: /opt/polis',
        '    owner: ubuntu:ubuntu',
        '  - pull-images: /opt/polis/docker-compose.yml',
        '    retries: 3',
        '    delay: 10',
        '  - verify-digests: image-digests.json',
        '  - run: cd /opt/polis && docker compose up -d',
        '    timeout: 120',
        '  - health: curl -fsS http://127.0.0.1:8080/health',
        '  - reboot: true',
        '  - pull-images: [ghcr.io/a/b:1, ghcr.io/a/c:2]',
        '  - verify-files: sums.txt',
        '    in: /opt/polis/images',
      ].join('\n'),
    );
    assert.deepEqual(
      steps.map((s) => s.kind),
      ['transfer', 'pull-images', 'verify-digests', 'run', 'health', 'reboot', 'pull-images', 'verify-files'],
    );
    assert.deepEqual(steps[0], { kind: 'transfer', ...STEP_DEFAULTS.transfer, from: '/profiles/bundle', to: '/opt/polis', owner: 'ubuntu:ubuntu' });
    assert.deepEqual(steps[1], { kind: 'pull-images', timeout: 900, retries: 3, delay: 10, compose: '/opt/polis/docker-compose.yml' });
    assert.deepEqual(
      steps[2],
      { kind: 'verify-digests', ...STEP_DEFAULTS['verify-digests'], manifest: '/profiles/image-digests.json' },
      'paths are relative to the profile',
    );
    assert.equal(steps[3]!.timeout, 120);
    assert.deepEqual([steps[4]!.timeout, steps[4]!.retries, steps[4]!.delay], [10, 30, 2], 'a health check polls by default');
    assert.deepEqual(steps[6], { kind: 'pull-images', ...STEP_DEFAULTS['pull-images'], images: ['ghcr.io/a/b:1', 'ghcr.io/a/c:2'] });
    assert.equal((steps[7] as { in: string }).in, '/opt/polis/images');
  });

  const bad: [string, string, RegExp][] = [
    ['two kinds', '  - run: a\n    health: b', /exactly one kind, got run and health/],
    ['a typo of a kind', '  - rnu: a', /one of transfer, run, .*; got "rnu" \(did you mean "run"\?\)/],
    ['an unknown option', '  - run: a\n    retires: 3', /unknown option "retires" for a run step; did you mean "retries"\?/],
    ['a relative guest path', '  - transfer: b\n    to: opt/x', /to must be an absolute path in the guest/],
    ['a transfer without to', '  - transfer: b', /needs to:/],
    ['a negative retry count', '  - run: a\n    retries: -1', /retries must be a whole number ≥ 0/],
    ['a zero timeout', '  - run: a\n    timeout: 0', /timeout must be a whole number ≥ 1/],
    ['an empty command', "  - run: ''", /run \(a shell command\) must be a non-empty string/],
  ];
  for (const [name, launch, message] of bad) {
    test(`refused with file:line: ${name}`, () => {
      assert.throws(
        () => parseSteps(launch),
        (e: unknown) =>
          e instanceof IngotError &&
          e.code === 'INGOT_PROFILE_INVALID' &&
          e.exitCode === 2 &&
          /^\/profiles\/app\.yaml:\d+:\d+: /.test(e.message) &&
          message.test(e.message),
      );
    });
  }

  test('the old launch mapping is refused with the list form as the hint', () => {
    assert.throws(
      () => parseProfile('kind: Profile\nlaunch:\n  commands: [echo hi]\n', file),
      (e: unknown) => e instanceof IngotError && /launch must be an ordered list of steps/.test(e.message) && /- run: CMD/.test(e.hint ?? ''),
    );
  });
});

describe('composition and rendering', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ingot-steps-'));
    await writeFile(
      path.join(dir, 'runtime.yaml'),
      [
        'kind: Profile',
        'cloud-config:',
        '  runcmd:',
        '    - echo install the runtime',
        'downloads:',
        '  - pin: tool',
        '    dest: /usr/local',
        '    extract: true',
        '    strip: 1',
        'launch:',
        '  - health: runtime --version',
      ].join('\n'),
    );
    await writeFile(
      path.join(dir, 'app.yaml'),
      [
        'kind: Profile',
        'includes: [runtime]',
        'cloud-config:',
        '  runcmd:',
        '    - echo configure the app',
        'downloads:',
        '  - pin: pkg',
        '    deb: true',
        '  - pin: tool',
        '    dest: /usr/local',
        '    extract: true',
        '    strip: 1',
        'units:',
        '  - name: app.service',
        '    enable: true',
        '    content: "[Unit]\\nRequires=runtime.service\\n"',
        '  - name: warm.service',
        '    start: true',
        '    content: "[Service]\\nType=oneshot\\nExecStart=/bin/true\\n"',
        'launch:',
        '  - transfer: bundle',
        '    to: /opt/app',
        '  - run: systemctl start app.service',
      ].join('\n'),
    );
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('steps of included profiles come first, in include order', async () => {
    const profile = await resolveProfile(dir, 'app');
    assert.deepEqual(
      profile.parts.launch.map((s) => s.kind),
      ['health', 'transfer', 'run'],
    );
  });

  test("runcmd: enable early, each profile's downloads before its own commands, start after everything", async () => {
    const { config } = renderUserData(await resolveProfile(dir, 'app'), { sshKeys: [] }, versions);
    const runcmd = (config.runcmd as unknown[]).map((item) =>
      Array.isArray(item) ? (item[0] === 'bash' ? `bash: ${String(item[2]).split('\n')[1]}` : item.join(' ')) : String(item),
    );
    assert.deepEqual(runcmd, [
      'set -e',
      'systemctl daemon-reload',
      // enable only: the unit may require what runcmd installs later (000's polis.service)
      'systemctl enable app.service',
      'bash: # tool 1 (versions.yaml)',
      'echo install the runtime',
      'bash: # pkg 2 (versions.yaml)',
      'echo configure the app',
      'systemctl daemon-reload',
      'systemctl start warm.service',
    ]);
    const text = JSON.stringify(config.runcmd);
    assert.doesNotMatch(text, /enable --now/);
    assert.match(text, /tar -xf \\"\$ARTIFACT\\" -C \/usr\/local --strip-components=1 --no-same-owner/);
    assert.match(text, /apt-get install -y --no-install-recommends \\"\$ARTIFACT\\"/);
    assert.match(text, /ARTIFACT=\\"\$tmp\\"\/pkg_2_amd64\.deb/, 'the .deb keeps its name for apt');
    assert.equal(text.match(/# tool 1/g)?.length, 1, 'a download two profiles share runs once');
  });

  test('a pin without a digest is refused at render time with the bump command', async () => {
    await writeFile(path.join(dir, 'later.yaml'), 'kind: Profile\ndownloads:\n  - pin: later\n    dest: /usr/local/bin/later\n');
    await assert.rejects(
      async () => renderUserData(await resolveProfile(dir, 'later'), { sshKeys: [] }, versions),
      (e: unknown) =>
        e instanceof IngotError &&
        e.code === 'INGOT_VERSIONS_INVALID' &&
        e.exitCode === 2 &&
        /pin "later" .* has no sha256 yet/.test(e.message) &&
        /ingot versions bump later 3/.test(e.hint ?? ''),
    );
  });

  test('units: bad keys, names and flags are refused', () => {
    const unit = (body: string) => () => parseProfile(`kind: Profile\nunits:\n  - name: x.service\n    content: a\n${body}`, '/p.yaml');
    assert.throws(unit('    enabled: true\n'), /unknown unit key "enabled"/);
    assert.throws(unit('    start: "yes"\n'), /start must be true or false/);
    assert.throws(() => parseProfile('kind: Profile\nunits:\n  - name: x\n    content: a\n', '/p.yaml'), /must end in \.service/);
    assert.throws(
      () => parseProfile('kind: Profile\ndownloads:\n  - pin: a\n    deb: true\n    extract: true\n', '/p.yaml'),
      /use one of extract, deb and script/,
    );
    assert.throws(() => parseProfile('kind: Profile\ndownloads:\n  - pin: a\n    dest: /x\n    strip: 1\n', '/p.yaml'), /strip .* goes with extract/);
  });

  test('system users keep the distro default user when no login user is given', async () => {
    await writeFile(path.join(dir, 'svc.yaml'), 'kind: Profile\ncloud-config:\n  users:\n    - name: svc\n      system: true\n');
    const profile = await resolveProfile(dir, 'svc');
    assert.deepEqual((parse(renderUserData(profile, { sshKeys: [] }).text) as { users: unknown[] }).users, ['default', { name: 'svc', system: true }]);
    const withUser = parse(renderUserData(profile, { sshKeys: [], user: 'ops' }).text) as { users: { name?: string }[] };
    assert.deepEqual(
      withUser.users.map((u) => u.name),
      ['ops', 'svc'],
    );
  });
});
