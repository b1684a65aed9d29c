/**
 * ingot's cloud-config schema data: the full set of top-level keys cloud-init
 * documents, and internal consistency (every reference resolves, every
 * deprecated alias names a key that exists beside it, every deprecation has
 * a version) — the checks that catch a slip in transcribing the schema.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cloudConfigJsonSchema, cloudConfigSchema, SCHEMA_VERSION } from '../../src/provision/cloud-init/schema-data.js';
import type { Schema } from '../../src/provision/cloud-init/schema-types.js';
import { knownTopLevelKeys } from '../../src/provision/validate.js';

// The top-level keys of cloud-init's schema (25.3+; the same set its 26.2 docs use).
const DOCUMENTED = `allow_public_ssh_keys ansible apk_repos apt apt_pipelining apt_reboot_if_required apt_update apt_upgrade
authkey_hash autoinstall bootcmd byobu_by_default ca-certs ca_certs chef chpasswd cloud_config_modules cloud_final_modules
cloud_init_modules create_hostname_file device_aliases disable_ec2_metadata disable_root disable_root_opts disk_setup drivers
fan final_message fqdn fs_setup groups growpart grub-dpkg grub_dpkg hostname keyboard landscape launch-index locale
locale_configfile lxd manage_etc_hosts manage_resolv_conf mcollective merge_how merge_type migrate mount_default_fields mounts
no_ssh_fingerprints ntp output package_reboot_if_required package_update package_upgrade packages password phone_home power_state
prefer_fqdn_over_hostname preserve_hostname puppet random_seed reporting resize_rootfs resolv_conf rh_subscription rpi rsyslog
runcmd salt_minion snap spacewalk ssh ssh_authorized_keys ssh_deletekeys ssh_fp_console_blacklist ssh_genkeytypes ssh_import_id
ssh_key_console_blacklist ssh_keys ssh_publish_hostkeys ssh_pwauth ssh_quiet_keygen swap system_info timezone ubuntu_advantage
ubuntu_pro updates user users vendor_data version wireguard write_files yum_repo_dir yum_repos zypper`.split(/\s+/);

/** Every schema object in the data, with a path for messages. */
function* walk(schema: Schema, where: string): Generator<[Schema, string]> {
  yield [schema, where];
  for (const [k, sub] of Object.entries(schema.properties ?? {})) yield* walk(sub, `${where}.${k}`);
  for (const [k, sub] of Object.entries(schema.patternProperties ?? {})) yield* walk(sub, `${where}[/${k}/]`);
  if (typeof schema.additionalProperties === 'object') yield* walk(schema.additionalProperties, `${where}.*`);
  if (schema.items) yield* walk(schema.items, `${where}[]`);
  if (schema.not) yield* walk(schema.not, `${where}!`);
  for (const key of ['oneOf', 'anyOf', 'allOf'] as const) for (const [i, sub] of (schema[key] ?? []).entries()) yield* walk(sub, `${where}|${key}${i}`);
}

describe('cloud-config schema data', () => {
  const { defs, root, version } = cloudConfigSchema();
  const all = [...walk(root, '$'), ...Object.entries(defs).flatMap(([name, s]) => [...walk(s, name)])];

  test('every documented top-level key, and no other', () => {
    assert.equal(version, SCHEMA_VERSION);
    assert.deepEqual(knownTopLevelKeys().sort(), [...DOCUMENTED].sort());
    assert.equal(root.additionalProperties, false);
  });

  test('every module can be named in cloud_*_modules, in both spellings where cloud-init takes both', () => {
    const modules = defs.all_modules!.enum!;
    for (const name of ['raspberry_pi', 'ubuntu_pro', 'write_files', 'write-files', 'write_files_deferred', 'users-groups', 'scripts_user', 'reset_rmc'])
      assert.ok(modules.includes(name), name);
    assert.ok(!modules.includes('raspberry-pi') && !modules.includes('ubuntu-pro'));
    assert.equal(modules.length, 98);
  });

  test('every reference resolves', () => {
    for (const [schema, where] of all) if (schema.$ref !== undefined) assert.ok(defs[schema.$ref], `${where}: $ref ${schema.$ref}`);
  });

  test('every deprecation has a version and a note; every alias names a key beside it', () => {
    let aliases = 0;
    for (const [schema, where] of all) {
      if (schema.deprecated) assert.ok(schema.deprecated_version && schema.deprecated_description, where);
      if (schema.changed) assert.ok(schema.changed_version && schema.changed_description, where);
    }
    for (const [schema, where] of all) {
      for (const [key, sub] of Object.entries(schema.properties ?? {})) {
        const flags = [sub, ...(sub.allOf ?? [])];
        const note = flags.find((s) => s.deprecated)?.deprecated_description ?? '';
        const replacement = /^use "([^"]+)" instead$/.exec(note)?.[1];
        if (!replacement) continue;
        aliases++;
        assert.ok(Object.hasOwn(schema.properties!, replacement), `${where}.${key}: its replacement "${replacement}" is not a sibling`);
        assert.notEqual(replacement, key);
      }
    }
    assert.ok(aliases >= 25, `aliases: ${aliases}`);
  });

  test('patterns compile as JavaScript', () => {
    for (const [schema, where] of all) {
      for (const p of [schema.pattern, ...Object.keys(schema.patternProperties ?? {})])
        if (p !== undefined) assert.doesNotThrow(() => new RegExp(p, 'u'), where);
    }
  });

  test('exports as draft-04 JSON Schema with $defs references', () => {
    const json = cloudConfigJsonSchema() as { $schema: string; $defs: Record<string, unknown>; allOf: { $ref: string }[] };
    assert.equal(json.$schema, 'http://json-schema.org/draft-04/schema#');
    assert.ok(json.allOf.every((r) => r.$ref.startsWith('#/$defs/') && json.$defs[r.$ref.slice(8)]));
    assert.ok(!JSON.stringify(json).includes('"description"'));
  });

  test('built once', () => {
    assert.equal(cloudConfigSchema(), cloudConfigSchema());
  });
});
