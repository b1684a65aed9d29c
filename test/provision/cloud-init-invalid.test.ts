/**
 * Configs cloud-init refuses, one per kind of mistake and nesting level: each
 * must be refused by ingot at the right file:line:col with a message that
 * says what is wrong. Plus configs cloud-init accepts with deprecations, and
 * ingot's own stricter rules, which are warnings only.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { validateUserData } from '../../src/provision/validate.js';

interface Case {
  name: string;
  /** Without the #cloud-config header (added here). */
  yaml: string;
  code: string;
  line: number;
  column: number;
  message: RegExp;
  hint?: RegExp;
}

const H = '#cloud-config\n';

// Lines count the header: the first YAML line is line 2.
const invalid: Case[] = [
  // unknown keys, at every level, with "did you mean"
  {
    name: 'top-level typo',
    yaml: 'package_update: true\npackagez:\n  - curl\n',
    code: 'unknown-key',
    line: 3,
    column: 1,
    message: /^unknown key "packagez"; did you mean "packages"\?$/,
  },
  {
    name: 'unknown key in a user',
    yaml: 'users:\n  - name: alice\n    shel: /bin/bash\n',
    code: 'unknown-key',
    line: 4,
    column: 5,
    message: /^users\[0\]: unknown key "shel"; did you mean "shell"\?$/,
  },
  {
    name: 'unknown key in write_files',
    yaml: 'write_files:\n  - path: /x\n    contents: y\n',
    code: 'unknown-key',
    line: 4,
    column: 5,
    message: /write_files\[0\]: unknown key "contents"; did you mean "content"\?/,
  },
  {
    name: 'unknown key three levels down',
    yaml: 'apt:\n  sources:\n    docker.list:\n      sourcee: deb http://x y main\n',
    code: 'unknown-key',
    line: 5,
    column: 7,
    message: /apt\.sources\.docker\.list: unknown key "sourcee"; did you mean "source"\?/,
  },
  {
    name: 'unknown key in lxd',
    yaml: 'lxd:\n  bridgeo:\n    mode: new\n',
    code: 'unknown-key',
    line: 3,
    column: 3,
    message: /lxd: unknown key "bridgeo"; did you mean "bridge"\?/,
  },
  {
    name: 'unknown key in ntp',
    yaml: 'ntp:\n  enabled: true\n  invalidkey: 1\n',
    code: 'unknown-key',
    line: 4,
    column: 3,
    message: /ntp: unknown key "invalidkey"/,
  },
  {
    name: 'resolv_conf singular',
    yaml: 'resolv_conf:\n  nameserver: [1.1.1.1]\n',
    code: 'unknown-key',
    line: 3,
    column: 3,
    message: /did you mean "nameservers"\?/,
  },
  {
    name: 'unknown key in a reporting handler',
    yaml: 'reporting:\n  hook:\n    type: webhook\n    endpoint: https://x\n    timeoutt: 5\n',
    code: 'unknown-key',
    line: 6,
    column: 5,
    message: /reporting\.hook: unknown key "timeoutt"; did you mean "timeout"\?/,
  },
  {
    name: 'unknown ssh_keys key',
    yaml: 'ssh_keys:\n  dsa_private: x\n',
    code: 'unknown-key',
    line: 3,
    column: 3,
    message: /ssh_keys: unknown key "dsa_private"/,
    hint: /keys here must match \^\(ecdsa\|ed25519\|rsa\)_\(public\|private\|certificate\)\$/,
  },
  // types
  { name: 'a string for a list', yaml: 'packages: curl\n', code: 'type', line: 2, column: 11, message: /^packages: expected a list, got the string "curl"$/ },
  {
    name: 'a mapping in runcmd',
    yaml: 'runcmd:\n  - set -e\n  - {a: 1}\n',
    code: 'type',
    line: 4,
    column: 5,
    message: /runcmd\[1\]: expected a list of strings or a string or null, got a mapping/,
  },
  {
    name: 'numeric permissions (YAML 1.1 octal)',
    yaml: 'write_files:\n  - path: /x\n    permissions: 0644\n',
    code: 'type',
    line: 4,
    column: 18,
    message: /write_files\[0\]\.permissions: expected a string, got the integer 420/,
    hint: /quote it: '0644'/,
  },
  {
    name: 'an unquoted date',
    yaml: 'users:\n  - name: a\n    expiredate: 2030-01-01\n',
    code: 'type',
    line: 4,
    column: 17,
    message: /expiredate: expected a string, got the date 2030-01-01/,
    hint: /quote it/,
  },
  {
    name: 'a float uid',
    yaml: 'users:\n  - name: a\n    uid: 1.5\n',
    code: 'type',
    line: 4,
    column: 10,
    message: /users\[0\]\.uid: expected an integer or a string, got the number 1\.5/,
  },
  {
    name: 'a string port',
    yaml: 'lxd:\n  init:\n    network_port: "8443"\n',
    code: 'type',
    line: 4,
    column: 19,
    message: /lxd\.init\.network_port: expected an integer, got the string "8443"/,
  },
  { name: 'an empty value', yaml: 'hostname:\nfqdn: a.example\n', code: 'type', line: 2, column: 1, message: /hostname: expected a string, got nothing/ },
  {
    name: 'yes is a boolean',
    yaml: 'timezone: yes\n',
    code: 'type',
    line: 2,
    column: 11,
    message: /timezone: expected a string, got the boolean true/,
    hint: /YAML 1\.1/,
  },
  { name: 'the top level is a list', yaml: '- a\n- b\n', code: 'type', line: 2, column: 1, message: /top level/ },
  // allowed values
  {
    name: 'power_state mode',
    yaml: 'power_state:\n  mode: shutdown\n',
    code: 'enum',
    line: 3,
    column: 9,
    message: /power_state\.mode: the string "shutdown" is not one of "poweroff", "reboot", "halt"/,
  },
  { name: 'byobu value with a guess', yaml: 'byobu_by_default: enabled\n', code: 'enum', line: 2, column: 19, message: /did you mean "enable"\?/ },
  {
    name: 'write_files encoding',
    yaml: 'write_files:\n  - path: /x\n    encoding: base65\n',
    code: 'enum',
    line: 4,
    column: 15,
    message: /encoding: the string "base65" is not one of/,
  },
  {
    name: 'a removed key type',
    yaml: 'ssh_genkeytypes: [rsa, dsa]\n',
    code: 'enum',
    line: 2,
    column: 24,
    message: /ssh_genkeytypes\[1\]: the string "dsa" is not one of "ecdsa", "ed25519", "rsa"/,
  },
  { name: 'a module name typo', yaml: 'cloud_final_modules:\n  - runcmdd\n', code: 'enum', line: 3, column: 5, message: /did you mean "runcmd"\?/ },
  {
    name: 'phone_home post',
    yaml: 'phone_home:\n  url: http://x\n  post: [pub_key_dsa]\n',
    code: 'enum',
    line: 4,
    column: 10,
    message: /phone_home\.post\[0\]: the string "pub_key_dsa" is not one of/,
  },
  // required keys
  {
    name: 'keyboard without layout',
    yaml: 'keyboard:\n  model: pc105\n',
    code: 'missing-field',
    line: 2,
    column: 1,
    message: /^keyboard: "layout" is required$/,
  },
  {
    name: 'power_state without mode',
    yaml: 'power_state:\n  delay: 5\n',
    code: 'missing-field',
    line: 2,
    column: 1,
    message: /power_state: "mode" is required/,
  },
  {
    name: 'write_files without path',
    yaml: 'write_files:\n  - content: x\n',
    code: 'missing-field',
    line: 3,
    column: 5,
    message: /write_files\[0\]: "path" is required/,
  },
  {
    name: 'nvidia without license',
    yaml: 'drivers:\n  nvidia:\n    version: "390"\n',
    code: 'missing-field',
    line: 3,
    column: 3,
    message: /drivers\.nvidia: "license-accepted" is required/,
  },
  {
    name: 'a user with neither name nor snapuser',
    yaml: 'users:\n  - gecos: Alice\n',
    code: 'missing-field',
    line: 3,
    column: 5,
    message: /users\[0\]: needs "name", or "snapuser"/,
  },
  {
    name: 'a yum repo without a URL',
    yaml: 'yum_repos:\n  epel:\n    name: EPEL\n',
    code: 'missing-field',
    line: 3,
    column: 3,
    message: /yum_repos\.epel: needs "baseurl", or "metalink", or "mirrorlist"/,
  },
  {
    name: 'ansible.pull without a playbook',
    yaml: 'ansible:\n  pull:\n    - url: https://x\n',
    code: 'missing-field',
    line: 4,
    column: 7,
    message: /ansible\.pull\[0\]: needs "url" and "playbook_name", or "url" and "playbook_names"/,
  },
  // sizes, patterns, ranges, uniqueness, formats
  { name: 'an empty runcmd', yaml: 'runcmd: []\n', code: 'too-short', line: 2, column: 1, message: /^runcmd: must not be empty$/ },
  {
    name: 'mount_default_fields needs 6',
    yaml: 'mount_default_fields: [a, b]\n',
    code: 'too-short',
    line: 2,
    column: 1,
    message: /needs at least 6 items, got 2/,
  },
  {
    name: 'a mount with 7 fields',
    yaml: 'mounts:\n  - [a, b, c, d, e, f, g]\n',
    code: 'too-long',
    line: 3,
    column: 5,
    message: /mounts\[0\]: takes at most 6 items, got 7/,
  },
  { name: 'an empty apt', yaml: 'apt: {}\n', code: 'too-short', line: 2, column: 1, message: /^apt: must not be empty$/ },
  {
    name: 'a swap size',
    yaml: 'swap:\n  filename: /swap\n  size: 10X\n',
    code: 'pattern',
    line: 4,
    column: 9,
    message: /swap\.size: "10X" does not match/,
    hint: /also allowed here: "auto", an integer/,
  },
  {
    name: 'true/false in runcmd are YAML 1.1 booleans',
    yaml: 'runcmd:\n  - set -e\n  - true\n',
    code: 'type',
    line: 4,
    column: 5,
    message: /runcmd\[1\]: expected a list of strings or a string or null, got the boolean true/,
    hint: /quote it/,
  },
  {
    name: 'landscape tags',
    yaml: 'landscape:\n  client:\n    account_name: a\n    computer_title: b\n    tags: "a b"\n',
    code: 'pattern',
    line: 6,
    column: 11,
    message: /landscape\.client\.tags: "a b" does not match/,
  },
  {
    name: 'an mtu below -1',
    yaml: 'lxd:\n  bridge:\n    mode: new\n    mtu: -5\n',
    code: 'range',
    line: 5,
    column: 10,
    message: /lxd\.bridge\.mtu: -5 is less than the minimum -1/,
  },
  {
    name: 'repeated ntp servers',
    yaml: 'ntp:\n  servers: [a.example, a.example]\n',
    code: 'not-unique',
    line: 3,
    column: 24,
    message: /ntp\.servers\[1\]: repeats item 0/,
  },
  {
    name: 'an impossible date',
    yaml: 'users:\n  - name: a\n    expiredate: "2030-02-30"\n',
    code: 'format',
    line: 4,
    column: 17,
    message: /"2030-02-30" is not a date/,
  },
  {
    name: 'two spellings of one key',
    yaml: 'rh_subscription:\n  activation_key: a\n  activation-key: b\n  org: x\n',
    code: 'conflict',
    line: 2,
    column: 1,
    message: /rh_subscription: give only one of "activation_key" and "activation-key"/,
  },
  {
    name: 'a user with both name and snapuser',
    yaml: 'users:\n  - name: a\n    snapuser: a@example.com\n',
    code: 'one-of',
    line: 3,
    column: 5,
    message: /give only one of "name", "snapuser"/,
  },
  {
    name: 'a layout of the wrong shape',
    yaml: 'disk_setup:\n  /dev/vdb:\n    layout: [[50, 82, 3]]\n',
    code: 'too-long',
    line: 4,
    column: 14,
    message: /disk_setup\.\/dev\/vdb\.layout\[0\]: takes at most 2 items, got 3/,
  },
  // YAML and header
  { name: 'a YAML syntax error', yaml: 'packages: [curl\n', code: 'yaml-syntax', line: 3, column: 1, message: /./ },
  {
    name: 'a Python tag',
    yaml: 'a: !!python/object:os.system x\n',
    code: 'yaml-tag',
    line: 2,
    column: 4,
    message: /could not determine a constructor for the tag "!!python\/object:os\.system"/,
  },
  { name: 'two documents', yaml: 'a: 1\n---\nb: 2\n', code: 'yaml-syntax', line: 3, column: 1, message: /expected a single document/ },
];

describe('configs cloud-init refuses are refused at file:line:col', () => {
  for (const c of invalid) {
    test(c.name, () => {
      const problems = validateUserData(H + c.yaml, 'ud.yaml');
      const found = problems.find((p) => p.code === c.code && p.severity === 'error');
      assert.ok(found, `expected a ${c.code} error, got ${JSON.stringify(problems.map((p) => `${p.line}:${p.column} ${p.severity} ${p.code} ${p.message}`))}`);
      assert.equal(`${found.file}:${found.line}:${found.column}`, `ud.yaml:${c.line}:${c.column}`, found.message);
      assert.match(found.message, c.message);
      if (c.hint) assert.match(found.hint ?? '', c.hint);
    });
  }

  test('a missing header is an error at 1:1', () => {
    const [p] = validateUserData('packages: [a]\n', 'x.yaml');
    assert.equal(p?.code, 'header');
    assert.equal(p?.severity, 'error');
    assert.equal(`${p?.line}:${p?.column}`, '1:1');
  });

  test('every mistake in one file is reported, in line order', () => {
    const problems = validateUserData(`${H}packagez: [a]\nkeyboard: {}\npower_state:\n  mode: off\n`, 'x.yaml');
    assert.deepEqual(
      problems.map((p) => [p.line, p.code]),
      [
        [2, 'unknown-key'],
        [3, 'missing-field'],
        [5, 'type'],
      ],
    );
  });
});

// Valid cloud-config that cloud-init accepts with a deprecation: a warning naming the replacement, never an error.
const deprecatedOnly: { name: string; yaml: string; line: number; message: RegExp }[] = [
  { name: 'apt_update', yaml: 'apt_update: true\n', line: 2, message: /^apt_update: deprecated since cloud-init 22\.2: use "package_update" instead$/ },
  { name: 'apt_upgrade', yaml: 'apt_upgrade: true\n', line: 2, message: /use "package_upgrade"/ },
  { name: 'apt_reboot_if_required', yaml: 'apt_reboot_if_required: true\n', line: 2, message: /use "package_reboot_if_required"/ },
  {
    name: 'ca-certs with remove-defaults',
    yaml: 'ca-certs:\n  remove-defaults: true\n',
    line: 2,
    message: /^ca-certs: deprecated since cloud-init 22\.3: use "ca_certs" instead$/,
  },
  {
    name: 'a user with lock-passwd',
    yaml: 'users:\n  - name: a\n    lock-passwd: true\n',
    line: 4,
    message: /users\[0\]\.lock-passwd: deprecated since cloud-init 22\.3: use "lock_passwd" instead/,
  },
  {
    name: 'power_state delay as a string',
    yaml: 'power_state:\n  mode: reboot\n  delay: "+5"\n',
    line: 4,
    message: /power_state\.delay: deprecated since cloud-init 22\.3/,
  },
  { name: 'apt_pipelining none', yaml: 'apt_pipelining: none\n', line: 2, message: /write "os" instead/ },
  {
    name: 'rh_subscription org as an integer',
    yaml: 'rh_subscription:\n  org: 12345\n  activation_key: k\n',
    line: 3,
    message: /rh_subscription\.org: deprecated since cloud-init 24\.2/,
  },
  { name: 'rh_subscription add-pool', yaml: 'rh_subscription:\n  add-pool: [a]\n', line: 3, message: /use "add_pool" instead/ },
  {
    name: 'growpart mode: off (a YAML 1.1 boolean)',
    yaml: 'growpart:\n  mode: off\n',
    line: 3,
    message: /growpart\.mode: deprecated since cloud-init 22\.3: write "off" instead of false/,
  },
  { name: 'ubuntu_advantage', yaml: 'ubuntu_advantage:\n  token: x\n', line: 2, message: /use "ubuntu_pro" instead/ },
  {
    name: 'ansible.pull as one mapping',
    yaml: 'ansible:\n  pull:\n    url: https://x\n    playbook_names: [a.yml]\n',
    line: 3,
    message: /ansible\.pull: deprecated since cloud-init 25\.2: give a list/,
  },
];

describe('deprecated-only configs are valid, with warnings naming the replacement', () => {
  for (const c of deprecatedOnly) {
    test(c.name, () => {
      const problems = validateUserData(H + c.yaml, 'd.yaml');
      assert.deepEqual(
        problems.filter((p) => p.severity === 'error'),
        [],
      );
      const found = problems.find((p) => p.code === 'deprecated' && c.message.test(p.message));
      assert.ok(found, JSON.stringify(problems.map((p) => p.message)));
      assert.equal(found.severity, 'warning');
      assert.equal(found.line, c.line);
    });
  }
});

describe("ingot's stricter rules are warnings, never errors", () => {
  const cases: { name: string; yaml: string; code: string; line: number }[] = [
    { name: 'a key given twice', yaml: 'hostname: a\nhostname: b\n', code: 'duplicate-key', line: 3 },
    { name: 'runcmd without set -e', yaml: 'runcmd:\n  - exit 1\n  - echo ok\n', code: 'not-strict', line: 3 },
    { name: 'a multi-line block without set -e', yaml: 'runcmd:\n  - set -e\n  - |\n    false\n    echo after\n', code: 'not-strict', line: 4 },
    { name: 'a bash -c script without set -e', yaml: 'bootcmd:\n  - [bash, -c, "false\\necho after"]\n', code: 'not-strict', line: 3 },
    {
      name: 'two write_files for one path',
      yaml: 'write_files:\n  - path: /x\n    content: a\n  - path: /x\n    content: b\n',
      code: 'duplicate-path',
      line: 5,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const problems = validateUserData(H + c.yaml, 'w.yaml');
      assert.deepEqual(
        problems.filter((p) => p.severity === 'error'),
        [],
      );
      const found = problems.find((p) => p.code === c.code);
      assert.ok(found, JSON.stringify(problems));
      assert.equal(found.severity, 'warning');
      assert.equal(found.line, c.line);
    });
  }

  test('the duplicate key keeps the last value, as cloud-init does', () => {
    const problems = validateUserData(`${H}packages: curl\npackages: [curl]\n`, 'w.yaml');
    assert.deepEqual(
      problems.map((p) => p.code),
      ['duplicate-key'],
    );
    const reversed = validateUserData(`${H}packages: [curl]\npackages: curl\n`, 'w.yaml');
    assert.ok(reversed.some((p) => p.code === 'type' && p.line === 3));
  });

  test('a strict user-data has no problems', () => {
    assert.deepEqual(validateUserData(`${H}runcmd:\n  - set -e\n  - [bash, -c, "set -euo pipefail\\necho a\\necho b\\n"]\n`, 'ok.yaml'), []);
  });
});
