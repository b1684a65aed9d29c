import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { IngotError } from '../../src/errors.js';
import { mergeProfiles, resolveProfile } from '../../src/provision/merge.js';
import { parseProfile } from '../../src/provision/profile.js';

const profile = (file: string, body: string) => parseProfile(`kind: Profile\n${body}`, file);

describe('merge rules', () => {
  const cases: { name: string; profiles: [string, string][]; expect: (merged: ReturnType<typeof mergeProfiles>) => void }[] = [
    {
      name: 'maps deep-merge',
      profiles: [
        ['a.yaml', 'cloud-config:\n  apt:\n    sources:\n      one: {source: "deb x"}\n'],
        ['b.yaml', 'cloud-config:\n  apt:\n    sources:\n      two: {source: "deb y"}\n    preserve_sources_list: true\n'],
      ],
      expect: (m) =>
        assert.deepEqual(m.parts.cloudConfig.apt, { sources: { one: { source: 'deb x' }, two: { source: 'deb y' } }, preserve_sources_list: true }),
    },
    {
      name: 'lists append in include order',
      profiles: [
        ['a.yaml', 'cloud-config:\n  packages: [curl, jq]\n  runcmd: [echo a]\n'],
        ['b.yaml', 'cloud-config:\n  packages: [git]\n  runcmd: [echo b]\n'],
        ['c.yaml', 'cloud-config:\n  packages: [vim]\n'],
      ],
      expect: (m) => {
        assert.deepEqual(m.parts.cloudConfig.packages, ['curl', 'jq', 'git', 'vim']);
        assert.deepEqual(m.parts.cloudConfig.runcmd, ['echo a', 'echo b']);
      },
    },
    {
      name: 'the same scalar set equally by two profiles is fine',
      profiles: [
        ['a.yaml', 'cloud-config:\n  package_update: true\n'],
        ['b.yaml', 'cloud-config:\n  package_update: true\n'],
      ],
      expect: (m) => assert.equal(m.parts.cloudConfig.package_update, true),
    },
    {
      name: 'sysctl maps merge, units by name',
      profiles: [
        ['a.yaml', 'sysctl:\n  net.ipv4.ip_forward: 1\nunits:\n  - {name: a.service, content: x}\n'],
        ['b.yaml', 'sysctl:\n  vm.swappiness: 10\nunits:\n  - {name: b.service, content: y}\n'],
      ],
      expect: (m) => {
        assert.deepEqual(m.parts.sysctl, { 'net.ipv4.ip_forward': 1, 'vm.swappiness': 10 });
        assert.deepEqual(
          m.parts.units.map((u) => u.name),
          ['a.service', 'b.service'],
        );
      },
    },
  ];
  for (const c of cases) {
    test(c.name, () => c.expect(mergeProfiles(c.profiles.map(([f, b]) => profile(f, b)))));
  }

  const conflicts: { name: string; a: string; b: string; key: string }[] = [
    {
      name: 'scalar set differently',
      a: 'cloud-config:\n  package_upgrade: true\n',
      b: 'cloud-config:\n  package_upgrade: false\n',
      key: 'cloud-config.package_upgrade',
    },
    {
      name: 'nested scalar set differently',
      a: 'cloud-config:\n  apt:\n    conf: "A"\n',
      b: 'cloud-config:\n  apt:\n    conf: "B"\n',
      key: 'cloud-config.apt.conf',
    },
    { name: 'map meets list', a: 'cloud-config:\n  mounts: []\n', b: 'cloud-config:\n  mounts: {a: 1}\n', key: 'cloud-config.mounts' },
    { name: 'sysctl value', a: 'sysctl:\n  vm.swappiness: 10\n', b: 'sysctl:\n  vm.swappiness: 60\n', key: 'sysctl.vm.swappiness' },
    {
      name: 'same unit, different content',
      a: 'units:\n  - {name: x.service, content: one}\n',
      b: 'units:\n  - {name: x.service, content: two}\n',
      key: 'units.x.service.content',
    },
  ];
  for (const c of conflicts) {
    test(`conflict: ${c.name} names both files`, () => {
      assert.throws(
        () => mergeProfiles([profile('/p/first.yaml', c.a), profile('/p/second.yaml', c.b)]),
        (error: unknown) => {
          assert.ok(error instanceof IngotError);
          assert.equal(error.code, 'INGOT_PROFILE_CONFLICT');
          assert.match(error.message, /\/p\/first\.yaml/);
          assert.match(error.message, /\/p\/second\.yaml/);
          assert.ok(error.message.includes(c.key), `${error.message} names ${c.key}`);
          return true;
        },
      );
    });
  }
});

describe('includes', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ingot-profiles-'));
    const files: Record<string, string> = {
      'base.yaml': 'kind: Profile\ncloud-config:\n  packages: [base-pkg]\n',
      'left.yaml': 'kind: Profile\nincludes: [base]\ncloud-config:\n  packages: [left-pkg]\n',
      'right.yaml': 'kind: Profile\nincludes: [base]\ncloud-config:\n  packages: [right-pkg]\n',
      'top.yaml': 'kind: Profile\nincludes: [left, right]\ncloud-config:\n  packages: [top-pkg]\n',
      'loop-a.yaml': 'kind: Profile\nincludes: [loop-b]\n',
      'loop-b.yaml': 'kind: Profile\nincludes: [loop-c]\n',
      'loop-c.yaml': 'kind: Profile\nincludes: [loop-a]\n',
      'self.yaml': 'kind: Profile\nincludes: [self]\n',
      'identity.yaml': 'kind: Profile\ncloud-config:\n  hostname: web1\n',
      'person.yaml': 'kind: Profile\ncloud-config:\n  users:\n    - name: bob\n      ssh_authorized_keys: [x]\n',
      'service-user.yaml': 'kind: Profile\ncloud-config:\n  users:\n    - {name: svc, system: true}\n',
    };
    for (const [name, body] of Object.entries(files)) await writeFile(path.join(dir, name), body);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('a diamond includes base once, depth-first in include order', async () => {
    const merged = await resolveProfile(dir, 'top');
    assert.deepEqual(merged.parts.cloudConfig.packages, ['base-pkg', 'left-pkg', 'right-pkg', 'top-pkg']);
    assert.deepEqual(
      merged.files.map((f) => path.basename(f)),
      ['base.yaml', 'left.yaml', 'right.yaml', 'top.yaml'],
    );
  });

  test('an include cycle is an error showing the chain', async () => {
    await assert.rejects(resolveProfile(dir, 'loop-a'), (error: unknown) => {
      assert.ok(error instanceof IngotError);
      assert.equal(error.code, 'INGOT_PROFILE_CYCLE');
      assert.match(error.message, /loop-a\.yaml → .*loop-b\.yaml → .*loop-c\.yaml → .*loop-a\.yaml/);
      return true;
    });
    await assert.rejects(resolveProfile(dir, 'self'), /include cycle/);
  });

  test('identity in a profile is refused with a --set hint', async () => {
    await assert.rejects(resolveProfile(dir, 'identity'), (error: unknown) => {
      assert.ok(error instanceof IngotError);
      assert.equal(error.code, 'INGOT_PROFILE_INVALID');
      assert.match(error.message, /identity\.yaml:3:\d+: "hostname" is identity/);
      assert.match(error.hint ?? '', /--set hostname=/);
      return true;
    });
    await assert.rejects(resolveProfile(dir, 'person'), /only declare system users/);
    const ok = await resolveProfile(dir, 'service-user');
    assert.deepEqual(ok.parts.cloudConfig.users, [{ name: 'svc', system: true }]);
  });

  test('a missing include names the file', async () => {
    await writeFile(path.join(dir, 'broken.yaml'), 'kind: Profile\nincludes: [nope]\n');
    await assert.rejects(resolveProfile(dir, 'broken'), /profile not found: .*nope\.yaml/);
  });
});
