/**
 * ingot's description of cloud-config: every module and key cloud-init
 * documents, with types, allowed values, required keys, limits and
 * deprecations. Derived from the documented format (cloud-init's
 * `schema-cloud-config-v1.json`, Apache-2.0 OR GPL-3.0, at commit
 * 2be7b325ab0a6a6f039a49cae16b500ed9da3c46, a 25.3+ snapshot) and checked
 * against the 153 documented examples of cloud-init 26.2 (see
 * test/fixtures/conformance/cloud-init/PROVENANCE.md). Descriptions are left
 * out; deprecation notes are ingot's own words.
 *
 * Built on first use (`cloudConfigSchema()`), not at import.
 */
import {
  alias,
  anyOf,
  arr,
  bool,
  changed,
  choice,
  deprecated,
  enumOf,
  int,
  nul,
  num,
  oneOf,
  open,
  ref,
  str,
  strict,
  strs,
  type Schema,
  type SchemaSet,
} from './schema-types.js';

/** The cloud-init release this data follows (for comparing with an installed one). */
export const SCHEMA_VERSION = '25.3';

let cached: SchemaSet | undefined;

/** The schema, built once. */
export function cloudConfigSchema(): SchemaSet {
  cached ??= build();
  return cached;
}

// Module names for cloud_init_modules & co; most also take a hyphenated spelling.
const MODULES = [
  'ansible',
  'apk_configure',
  'apt_configure',
  'apt_pipelining',
  'bootcmd',
  'byobu',
  'ca_certs',
  'chef',
  'disable_ec2_metadata',
  'disk_setup',
  'fan',
  'final_message',
  'growpart',
  'grub_dpkg',
  'install_hotplug',
  'keyboard',
  'keys_to_console',
  'landscape',
  'locale',
  'lxd',
  'mcollective',
  'mounts',
  'ntp',
  'package_update_upgrade_install',
  'phone_home',
  'power_state_change',
  'puppet',
  'raspberry_pi',
  'reset_rmc',
  'resizefs',
  'resolv_conf',
  'rh_subscription',
  'rsyslog',
  'runcmd',
  'salt_minion',
  'scripts_per_boot',
  'scripts_per_instance',
  'scripts_per_once',
  'scripts_user',
  'scripts_vendor',
  'seed_random',
  'set_hostname',
  'set_passwords',
  'snap',
  'spacewalk',
  'ssh',
  'ssh_authkey_fingerprints',
  'ssh_import_id',
  'timezone',
  'ubuntu_advantage',
  'ubuntu_autoinstall',
  'ubuntu_drivers',
  'ubuntu_pro',
  'update_etc_hosts',
  'update_hostname',
  'users_groups',
  'wireguard',
  'write_files',
  'write_files_deferred',
  'yum_add_repo',
  'zypper_add_repo',
];
const NO_HYPHEN_SPELLING = new Set(['raspberry_pi', 'ubuntu_pro']);

const SIZE = '^([0-9]+)?\\.?[0-9]+[BKMGT]$';

function build(): SchemaSet {
  const defs: Record<string, Schema> = {};

  defs.all_modules = enumOf(...MODULES.flatMap((m) => (m.includes('_') && !NO_HYPHEN_SPELLING.has(m) ? [m.replaceAll('_', '-'), m] : [m])));
  defs.modules_definition = arr(oneOf(ref('all_modules'), arr()));
  defs.merge_definition = oneOf(
    str(),
    arr(
      strict(
        {
          name: choice('list', 'dict', 'str'),
          settings: arr(choice('allow_delete', 'no_replace', 'replace', 'append', 'prepend', 'recurse_dict', 'recurse_list', 'recurse_array', 'recurse_str')),
        },
        { required: ['name', 'settings'] },
      ),
      { minItems: 1 },
    ),
  );

  const proxy = (): Schema => ({ type: ['string', 'null'], format: 'uri' });
  defs['ubuntu_pro.properties'] = strict({
    enable: strs(),
    enable_beta: strs(),
    token: str(),
    features: strict({ disable_auto_attach: bool() }),
    config: open({
      http_proxy: proxy(),
      https_proxy: proxy(),
      global_apt_http_proxy: proxy(),
      global_apt_https_proxy: proxy(),
      ua_apt_http_proxy: proxy(),
      ua_apt_https_proxy: proxy(),
    }),
  });

  defs['users_groups.groups_by_groupname'] = {
    additionalProperties: false,
    patternProperties: { '^.+$': { type: ['string', 'array'], items: str(), minItems: 1 } },
  };
  const userKey = (replacement: string, schema: Schema, version = '24.2'): Schema => alias(version, replacement, schema);
  defs['users_groups.user'] = strict(
    {
      name: str(),
      doas: strs({ minItems: 1 }),
      expiredate: str({ format: 'date' }),
      gecos: str(),
      groups: oneOf(str(), arr({ type: ['string'] }, { minItems: 1 }), {
        type: 'object',
        patternProperties: { '^.+$': deprecated('23.1', 'give the groups as a string or a list of strings, not a mapping', { type: ['null'], minItems: 1 }) },
      }),
      homedir: str(),
      inactive: str(),
      'lock-passwd': userKey('lock_passwd', bool(), '22.3'),
      lock_passwd: bool(),
      'no-create-home': userKey('no_create_home', bool()),
      no_create_home: bool(),
      'no-log-init': userKey('no_log_init', bool()),
      no_log_init: bool(),
      'no-user-group': userKey('no_user_group', bool()),
      no_user_group: bool(),
      passwd: str(),
      'hashed-passwd': userKey('hashed_passwd', str()),
      hashed_passwd: str(),
      'plain-text-passwd': userKey('plain_text_passwd', str()),
      plain_text_passwd: str(),
      'create-groups': userKey('create_groups', bool()),
      create_groups: bool(),
      'primary-group': userKey('primary_group', str()),
      primary_group: str(),
      'selinux-user': userKey('selinux_user', str()),
      selinux_user: str(),
      shell: str(),
      snapuser: str(),
      ssh_authorized_keys: strs({ minItems: 1 }),
      'ssh-authorized-keys': userKey('ssh_authorized_keys', strs({ minItems: 1 }), '18.3'),
      'ssh-import-id': userKey('ssh_import_id', strs({ minItems: 1 })),
      ssh_import_id: strs({ minItems: 1 }),
      'ssh-redirect-user': userKey('ssh_redirect_user', bool()),
      ssh_redirect_user: bool(),
      system: bool(),
      sudo: oneOf(
        { type: ['string', 'null'] },
        arr({ type: ['string', 'null'] }),
        changed('22.2', 'write null (or leave sudo out) instead of a boolean', bool()),
      ),
      uid: oneOf(int(), changed('22.3', 'give an integer, not a string', str())),
    },
    { untyped: true, oneOf: [{ required: ['name'] }, { required: ['snapuser'] }] },
  );

  defs['ansible.pull'] = strict(
    {
      accept_host_key: bool(),
      clean: bool(),
      full: bool(),
      diff: bool(),
      ssh_common_args: str(),
      scp_extra_args: str(),
      sftp_extra_args: str(),
      private_key: str(),
      checkout: str(),
      module_path: str(),
      timeout: str(),
      url: str(),
      connection: str(),
      vault_id: str(),
      vault_password_file: str(),
      verify_commit: bool(),
      inventory: str(),
      module_name: str(),
      sleep: str(),
      tags: str(),
      skip_tags: str(),
      playbook_name: alias('25.2', 'playbook_names', str()),
      playbook_names: strs(),
    },
    { oneOf: [{ required: ['url', 'playbook_name'] }, { required: ['url', 'playbook_names'] }] },
  );

  defs['apt_configure.mirror'] = arr(
    strict(
      {
        arches: strs({ minItems: 1 }),
        uri: str({ format: 'uri' }),
        search: arr(str({ format: 'uri' }), { minItems: 1 }),
        search_dns: bool(),
        keyid: str(),
        key: str(),
        keyserver: str(),
      },
      { required: ['arches'] },
    ),
    { minItems: 1 },
  );

  defs['ca_certs.properties'] = strict(
    { 'remove-defaults': alias('22.3', 'remove_defaults', bool()), remove_defaults: bool(), trusted: strs({ minItems: 1 }) },
    { minProperties: 1 },
  );

  defs.package_item_definition = oneOf(strs({ minItems: 2, maxItems: 2 }), str());

  // ---- one definition per module, in cloud-init's order ----

  defs.base_config = open({
    cloud_init_modules: ref('modules_definition'),
    cloud_config_modules: ref('modules_definition'),
    cloud_final_modules: ref('modules_definition'),
    'launch-index': int(),
    merge_how: ref('merge_definition'),
    merge_type: ref('merge_definition'),
    system_info: deprecated('24.2', 'it holds distro settings and is not meant to be set from user-data', { type: 'object' }),
  });

  defs.cc_ansible = open({
    ansible: strict({
      install_method: choice('distro', 'pip'),
      run_user: str(),
      ansible_config: str(),
      setup_controller: strict({
        repositories: arr(strict({ path: str(), source: str() }, { required: ['path', 'source'] })),
        run_ansible: arr(
          open({
            playbook_name: str(),
            playbook_dir: str(),
            become_password_file: str(),
            connection_password_file: str(),
            list_hosts: bool(),
            syntax_check: bool(),
            timeout: num({ minimum: 0 }),
            vault_id: str(),
            vault_password_file: str(),
            background: num({ minimum: 0 }),
            check: bool(),
            diff: bool(),
            module_path: str(),
            poll: num({ minimum: 0 }),
            args: str(),
            extra_vars: str(),
            forks: num({ minimum: 0 }),
            inventory: str(),
            scp_extra_args: str(),
            sftp_extra_args: str(),
            private_key: str(),
            connection: str(),
            module_name: str(),
            sleep: str(),
            tags: str(),
            skip_tags: str(),
          }),
        ),
      }),
      galaxy: strict({ actions: arr(arr(str({ pattern: '^.*$' }))) }, { required: ['actions'] }),
      package_name: str(),
      pull: oneOf(
        arr(ref('ansible.pull')),
        ref('ansible.pull', { deprecated: true, deprecated_version: '25.2', deprecated_description: 'give a list of mappings instead of one mapping' }),
      ),
    }),
  });

  defs.cc_apk_configure = open({
    apk_repos: strict(
      {
        preserve_repositories: bool(),
        alpine_repo: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { base_url: str(), community_enabled: bool(), testing_enabled: bool(), version: str() },
          required: ['version'],
          minProperties: 1,
        },
        local_repo_base_url: str(),
      },
      { minProperties: 1 },
    ),
  });

  defs.cc_apt_configure = open(
    {
      apt: strict(
        {
          preserve_sources_list: bool(),
          disable_suites: strs({ minItems: 1, uniqueItems: true }),
          primary: ref('apt_configure.mirror'),
          security: ref('apt_configure.mirror'),
          add_apt_repo_match: str(),
          debconf_selections: { type: 'object', minProperties: 1, additionalProperties: false, patternProperties: { '^.+$': str() } },
          sources_list: str(),
          conf: str(),
          https_proxy: str(),
          http_proxy: str(),
          proxy: str(),
          ftp_proxy: str(),
          sources: {
            type: 'object',
            additionalProperties: false,
            patternProperties: {
              '^.+$': strict({ source: str(), keyid: str(), key: str(), keyserver: str(), filename: str(), append: bool() }, { minProperties: 1 }),
            },
          },
        },
        { minProperties: 1 },
      ),
    },
    { untyped: true },
  );

  defs.cc_apt_pipelining = open({
    apt_pipelining: oneOf(int(), bool(), { type: 'string', oneOf: [enumOf('os'), deprecated('22.4', 'write "os" instead', enumOf('none', 'unchanged'))] }),
  });

  const command = (): Schema => oneOf(strs(), str());
  defs.cc_bootcmd = open({ bootcmd: arr(command(), { minItems: 1 }) });

  defs.cc_byobu = open({
    byobu_by_default: choice('enable-system', 'enable-user', 'disable-system', 'disable-user', 'enable', 'disable', 'user', 'system'),
  });

  defs.cc_ca_certs = open({
    ca_certs: ref('ca_certs.properties'),
    'ca-certs': { allOf: [ref('ca_certs.properties'), alias('22.3', 'ca_certs', {})] },
  });

  defs.cc_chef = open({
    chef: strict(
      {
        directories: strs({ minItems: 1, uniqueItems: true }),
        config_path: str(),
        validation_cert: str(),
        validation_key: str(),
        firstboot_path: str(),
        exec: bool(),
        client_key: str(),
        encrypted_data_bag_secret: str(),
        environment: str(),
        file_backup_path: str(),
        file_cache_path: str(),
        json_attribs: str(),
        log_level: str(),
        log_location: str(),
        node_name: str(),
        omnibus_url: str(),
        omnibus_url_retries: int(),
        omnibus_version: str(),
        pid_file: str(),
        server_url: str(),
        show_time: bool(),
        ssl_verify_mode: str(),
        validation_name: str(),
        force_install: bool(),
        initial_attributes: { type: 'object', items: str() },
        install_type: choice('packages', 'gems', 'omnibus'),
        run_list: strs(),
        chef_license: choice('accept', 'accept-silent', 'accept-no-persist'),
      },
      { minProperties: 1 },
    ),
  });

  defs.cc_disable_ec2_metadata = open({ disable_ec2_metadata: bool() });

  defs.cc_disk_setup = open({
    device_aliases: { type: 'object', additionalProperties: false, patternProperties: { '^.+$': str() } },
    disk_setup: {
      type: 'object',
      additionalProperties: false,
      patternProperties: {
        '^.+$': strict({
          table_type: choice('mbr', 'gpt'),
          layout: oneOf(choice('remove'), bool(), arr(oneOf(int(), arr(anyOf(int(), str()), { minItems: 2, maxItems: 2 })))),
          overwrite: bool(),
        }),
      },
    },
    fs_setup: arr(
      strict({
        label: str(),
        filesystem: str(),
        device: str(),
        // As documented: a string or an integer, and one of auto/any/none.
        partition: { type: ['string', 'integer'], oneOf: [choice('auto', 'any', 'none')] },
        overwrite: bool(),
        replace_fs: str(),
        extra_opts: { type: ['array', 'string'], items: str() },
        cmd: { type: ['array', 'string'], items: str() },
      }),
    ),
  });

  defs.cc_fan = open({ fan: strict({ config: str(), config_path: str() }, { required: ['config'] }) });

  defs.cc_final_message = open({ final_message: str() });

  defs.cc_growpart = open({
    growpart: strict({
      mode: oneOf(enumOf('auto', 'growpart', 'gpart', 'off'), changed('22.3', 'write "off" instead of false', enumOf(false))),
      devices: strs(),
      ignore_growroot_disabled: bool(),
    }),
  });

  defs.cc_grub_dpkg = open({
    grub_dpkg: strict({
      enabled: bool(),
      'grub-pc/install_devices': str(),
      'grub-pc/install_devices_empty': oneOf(bool(), changed('22.3', 'give a boolean, not a string', str())),
      'grub-efi/install_devices': str(),
    }),
    'grub-dpkg': alias('22.2', 'grub_dpkg', { type: 'object' }),
  });

  defs.cc_install_hotplug = open({
    updates: strict({ network: strict({ when: arr(choice('boot-new-instance', 'boot-legacy', 'boot', 'hotplug')) }, { required: ['when'] }) }),
  });

  defs.cc_keyboard = open({ keyboard: strict({ layout: str(), model: str(), variant: str(), options: str() }, { required: ['layout'] }) });

  defs.cc_keys_to_console = open({
    ssh: strict({ emit_keys_to_console: bool() }, { required: ['emit_keys_to_console'] }),
    ssh_key_console_blacklist: strs({ uniqueItems: true }),
    ssh_fp_console_blacklist: strs({ uniqueItems: true }),
  });

  defs.cc_landscape = open({
    landscape: strict(
      {
        client: open(
          {
            url: str(),
            ping_url: str(),
            data_path: str(),
            log_level: choice('debug', 'info', 'warning', 'error', 'critical'),
            computer_title: str(),
            account_name: str(),
            registration_key: str(),
            tags: str({ pattern: '^[-_0-9a-zA-Z]+(,[-_0-9a-zA-Z]+)*$' }),
            http_proxy: str(),
            https_proxy: str(),
          },
          { additionalProperties: true, required: ['account_name', 'computer_title'] },
        ),
      },
      { required: ['client'] },
    ),
  });

  defs.cc_locale = open({ locale: oneOf(bool(), str()), locale_configfile: str() }, { untyped: true });

  defs.cc_lxd = open({
    lxd: strict(
      {
        init: strict({
          network_address: str(),
          network_port: int(),
          storage_backend: choice('zfs', 'dir', 'lvm', 'btrfs'),
          storage_create_device: str(),
          storage_create_loop: int(),
          storage_pool: str(),
          trust_password: str(),
        }),
        bridge: strict(
          {
            mode: choice('none', 'existing', 'new'),
            name: str(),
            mtu: int({ minimum: -1 }),
            ipv4_address: str(),
            ipv4_netmask: int(),
            ipv4_dhcp_first: str(),
            ipv4_dhcp_last: str(),
            ipv4_dhcp_leases: int(),
            ipv4_nat: bool(),
            ipv6_address: str(),
            ipv6_netmask: int(),
            ipv6_nat: bool(),
            domain: str(),
          },
          { required: ['mode'] },
        ),
        preseed: str(),
      },
      { minProperties: 1 },
    ),
  });

  defs.cc_mcollective = open({
    mcollective: strict({
      conf: strict({ 'public-cert': str(), 'private-cert': str() }, { patternProperties: { '^.+$': oneOf(bool(), int(), str()) } }),
    }),
  });

  defs.cc_mounts = open({
    mounts: arr(strs({ minItems: 1, maxItems: 6 }), { minItems: 1 }),
    mount_default_fields: arr(oneOf(str(), nul()), { minItems: 6, maxItems: 6 }),
    swap: strict({
      filename: str(),
      size: oneOf(enumOf('auto'), int(), str({ pattern: SIZE })),
      maxsize: oneOf(int(), str({ pattern: SIZE })),
    }),
  });

  const hostnames = (): Schema => arr(str({ format: 'hostname' }), { uniqueItems: true });
  defs.cc_ntp = open({
    ntp: {
      type: ['null', 'object'],
      additionalProperties: false,
      properties: {
        pools: hostnames(),
        servers: hostnames(),
        peers: hostnames(),
        allow: strs({ uniqueItems: true }),
        ntp_client: str(),
        enabled: bool(),
        config: strict(
          { confpath: str(), check_exe: str(), packages: strs({ uniqueItems: true }), service_name: str(), template: str() },
          { minProperties: 1 },
        ),
      },
    },
  });

  defs.cc_package_update_upgrade_install = open({
    packages: arr(oneOf(strict({ apt: arr(ref('package_item_definition')), snap: arr(ref('package_item_definition')) }), ref('package_item_definition')), {
      minItems: 1,
    }),
    package_update: bool(),
    package_upgrade: bool(),
    package_reboot_if_required: bool(),
    apt_update: alias('22.2', 'package_update', bool()),
    apt_upgrade: alias('22.2', 'package_upgrade', bool()),
    apt_reboot_if_required: alias('22.2', 'package_reboot_if_required', bool()),
  });

  defs.cc_phone_home = open({
    phone_home: strict(
      {
        url: str({ format: 'uri' }),
        post: oneOf(enumOf('all'), arr(choice('pub_key_rsa', 'pub_key_ecdsa', 'pub_key_ed25519', 'instance_id', 'hostname', 'fqdn'))),
        tries: int(),
      },
      { required: ['url'] },
    ),
  });

  defs.cc_power_state_change = open({
    power_state: strict(
      {
        delay: oneOf(int({ minimum: 0 }), changed('22.3', 'give "now" or an integer (minutes), not a string', str({ pattern: '^\\+?[0-9]+$' })), enumOf('now')),
        mode: choice('poweroff', 'reboot', 'halt'),
        message: str(),
        timeout: int(),
        condition: oneOf(str(), bool(), arr()),
      },
      { required: ['mode'] },
    ),
  });

  defs.cc_puppet = open({
    puppet: strict({
      install: bool(),
      version: str(),
      install_type: choice('packages', 'aio'),
      collection: str(),
      aio_install_url: str(),
      cleanup: bool(),
      conf_file: str(),
      ssl_dir: str(),
      csr_attributes_path: str(),
      package_name: str(),
      exec: bool(),
      exec_args: strs(),
      start_service: bool(),
      conf: strict({ main: open(), server: open(), agent: open(), user: open(), ca_cert: str() }),
      csr_attributes: strict({ custom_attributes: open(), extension_requests: open() }),
    }),
  });

  defs.cc_raspberry_pi = open({
    rpi: open({
      interfaces: open({
        spi: bool(),
        i2c: bool(),
        serial: oneOf(bool(), open({ console: bool(), hardware: bool() })),
        onewire: bool(),
      }),
      enable_usb_gadget: bool(),
    }),
  });

  defs.cc_resizefs = open({ resize_rootfs: enumOf(true, false, 'noblock') });

  defs.cc_resolv_conf = open({
    manage_resolv_conf: bool(),
    resolv_conf: strict({ nameservers: arr(), searchdomains: arr(), domain: str(), sortlist: arr(), options: open() }),
  });

  const renamed: [string, string][] = [
    ['activation_key', 'activation-key'],
    ['auto_attach', 'auto-attach'],
    ['service_level', 'service-level'],
    ['add_pool', 'add-pool'],
    ['enable_repo', 'enable-repo'],
    ['disable_repo', 'disable-repo'],
    ['rhsm_baseurl', 'rhsm-baseurl'],
    ['server_hostname', 'server-hostname'],
  ];
  const rhValue: Record<string, Schema> = {
    activation_key: str(),
    auto_attach: bool(),
    service_level: str(),
    add_pool: strs(),
    enable_repo: strs(),
    disable_repo: strs(),
    rhsm_baseurl: str(),
    server_hostname: str(),
  };
  for (const [name, schema] of Object.entries(rhValue)) defs[`rh_subscription_${name}`] = schema;
  const rhProperties: Record<string, Schema> = {
    username: str(),
    password: str(),
    org: oneOf(str(), deprecated('24.2', 'give a string, not an integer', int())),
    release_version: str(),
  };
  for (const [name, old] of renamed) {
    rhProperties[name] = ref(`rh_subscription_${name}`);
    rhProperties[old] = ref(`rh_subscription_${name}`, { deprecated: true, deprecated_version: '25.3', deprecated_description: `use "${name}" instead` });
  }
  defs.cc_rh_subscription = open({
    rh_subscription: strict(rhProperties, { allOf: renamed.map(([name, old]) => ({ not: { required: [name, old] } })) }),
  });

  defs.cc_rsyslog = open({
    rsyslog: strict({
      config_dir: str(),
      config_filename: str(),
      configs: arr(oneOf(str(), strict({ filename: str(), content: str() }, { required: ['content'] }))),
      remotes: open(),
      service_reload_command: oneOf(enumOf('auto'), strs()),
      install_rsyslog: bool(),
      check_exe: str(),
      packages: strs({ uniqueItems: true }),
    }),
  });

  defs.cc_runcmd = open({ runcmd: arr(oneOf(strs(), str(), nul()), { minItems: 1 }) });

  defs.cc_salt_minion = open({
    salt_minion: strict({
      pkg_name: str(),
      service_name: str(),
      config_dir: str(),
      conf: open(),
      grains: open(),
      public_key: str(),
      private_key: str(),
      pki_dir: str(),
    }),
  });

  defs.cc_scripts_vendor = open({
    vendor_data: strict({
      enabled: oneOf(bool(), deprecated('22.3', 'give a boolean, not a string', str())),
      prefix: { type: ['array', 'string'], items: { type: ['string', 'integer'] } },
    }),
  });

  defs.cc_seed_random = open({
    random_seed: strict({
      file: str(),
      data: str(),
      encoding: choice('raw', 'base64', 'b64', 'gzip', 'gz'),
      command: strs(),
      command_required: bool(),
    }),
  });

  defs.cc_set_hostname = open({
    preserve_hostname: bool(),
    hostname: str(),
    fqdn: str(),
    prefer_fqdn_over_hostname: bool(),
    create_hostname_file: bool(),
  });

  defs.cc_set_passwords = open({
    ssh_pwauth: oneOf(bool(), changed('22.3', 'give a boolean', str())),
    chpasswd: strict({
      expire: bool(),
      users: arr({
        minItems: 1,
        type: 'object',
        anyOf: [
          strict({ name: str(), type: { enum: ['RANDOM'], type: 'string' } }, { untyped: true, required: ['name', 'type'] }),
          strict({ name: str(), type: { enum: ['hash', 'text'], type: 'string' }, password: str() }, { untyped: true, required: ['name', 'password'] }),
        ],
      }),
      list: deprecated('22.2', 'use "users" instead', { oneOf: [str(), arr(str({ pattern: '^.+:.+$' }))], minItems: 1 }),
    }),
    password: str(),
  });

  const listOrMap = (items: Schema): Schema => ({
    type: ['object', 'array'],
    items,
    minItems: 1,
    minProperties: 1,
    additionalProperties: items,
  });
  defs.cc_snap = open({
    snap: strict(
      {
        assertions: { ...listOrMap(str()), uniqueItems: true },
        commands: listOrMap(command()),
      },
      { minProperties: 1 },
    ),
  });

  defs.cc_spacewalk = open({ spacewalk: strict({ server: str(), proxy: str(), activation_key: str() }) });

  defs.cc_ssh_authkey_fingerprints = open({ no_ssh_fingerprints: bool(), authkey_hash: str() });

  defs.cc_ssh_import_id = open({ ssh_import_id: strs() });

  defs.cc_ssh = open({
    ssh_keys: { type: 'object', additionalProperties: false, patternProperties: { '^(ecdsa|ed25519|rsa)_(public|private|certificate)$': str() } },
    ssh_authorized_keys: strs({ minItems: 1 }),
    ssh_deletekeys: bool(),
    ssh_genkeytypes: arr(choice('ecdsa', 'ed25519', 'rsa'), { minItems: 1 }),
    disable_root: bool(),
    disable_root_opts: str(),
    allow_public_ssh_keys: bool(),
    ssh_quiet_keygen: bool(),
    ssh_publish_hostkeys: strict({ enabled: bool(), blacklist: strs() }),
  });

  defs.cc_timezone = open({ timezone: str() });

  defs.cc_ubuntu_autoinstall = open({ autoinstall: open({ version: int() }, { required: ['version'] }) }, { additionalProperties: true });

  defs.cc_ubuntu_drivers = open({
    drivers: strict({ nvidia: strict({ 'license-accepted': bool(), version: str() }, { required: ['license-accepted'] }) }),
  });

  defs.cc_ubuntu_pro = open({
    ubuntu_pro: ref('ubuntu_pro.properties'),
    ubuntu_advantage: ref('ubuntu_pro.properties', { deprecated: true, deprecated_version: '24.1', deprecated_description: 'use "ubuntu_pro" instead' }),
  });

  defs.cc_update_etc_hosts = open({
    manage_etc_hosts: oneOf(enumOf(true, false, 'localhost'), changed('22.3', 'write true instead of "template"', enumOf('template'))),
    fqdn: str(),
    hostname: str(),
  });

  defs.cc_update_hostname = open({ preserve_hostname: bool(), prefer_fqdn_over_hostname: bool(), create_hostname_file: bool() });

  defs.cc_users_groups = open({
    groups: {
      type: ['string', 'object', 'array'],
      $ref: 'users_groups.groups_by_groupname',
      items: { type: ['string', 'object'], $ref: 'users_groups.groups_by_groupname' },
      minItems: 1,
    },
    user: oneOf(str(), { type: 'object', $ref: 'users_groups.user' }),
    users: { type: ['string', 'array', 'object'], items: oneOf(str(), strs(), { type: 'object', $ref: 'users_groups.user' }) },
  });

  defs.cc_wireguard = open({
    wireguard: {
      type: ['null', 'object'],
      properties: {
        interfaces: arr(strict({ name: str(), config_path: str(), content: str() }), { minItems: 1 }),
        readinessprobe: strs({ uniqueItems: true }),
      },
      required: ['interfaces'],
      minProperties: 1,
      additionalProperties: false,
    },
  });

  defs.cc_write_files = open({
    write_files: arr(
      strict(
        {
          path: str(),
          content: str(),
          source: strict({ uri: str({ format: 'uri' }), headers: open({}, { additionalProperties: str() }) }, { required: ['uri'] }),
          owner: str(),
          permissions: str(),
          encoding: choice('gz', 'gzip', 'gz+base64', 'gzip+base64', 'gz+b64', 'gzip+b64', 'b64', 'base64', 'text/plain'),
          append: bool(),
          defer: bool(),
        },
        { required: ['path'] },
      ),
      { minItems: 1 },
    ),
  });

  const url = (): Schema => str({ format: 'uri' });
  defs.cc_yum_add_repo = open({
    yum_repo_dir: str(),
    yum_repos: {
      type: 'object',
      minProperties: 1,
      additionalProperties: false,
      patternProperties: {
        '^[0-9a-zA-Z -_]+$': strict(
          { baseurl: url(), metalink: url(), mirrorlist: url(), name: str(), enabled: bool() },
          {
            patternProperties: { '^[0-9a-zA-Z_]+$': oneOf(int(), bool(), str()) },
            anyOf: [{ required: ['baseurl'] }, { required: ['metalink'] }, { required: ['mirrorlist'] }],
          },
        ),
      },
    },
  });

  defs.cc_zypper_add_repo = open({
    zypper: open(
      {
        repos: arr(open({ id: str(), baseurl: url() }, { additionalProperties: true, required: ['id', 'baseurl'] }), { minItems: 1 }),
        config: open(),
      },
      { minProperties: 1, additionalProperties: true },
    ),
  });

  defs.output_log_operator = oneOf(str(), arr({ type: ['string'] }, { minItems: 2, maxItems: 2 }), strict({ output: str(), error: str() }));
  defs.output_config = open({
    output: strict({
      all: ref('output_log_operator'),
      init: ref('output_log_operator'),
      config: ref('output_log_operator'),
      final: ref('output_log_operator'),
    }),
  });

  const reporter = (type: string, properties: Record<string, Schema>, required: string[] = ['type']): Schema =>
    strict({ type: choice(type), ...properties }, { untyped: true, required });
  defs.reporting_config = open({
    reporting: {
      type: 'object',
      additionalProperties: false,
      patternProperties: {
        '^.+$': {
          type: 'object',
          oneOf: [
            reporter('log', { level: choice('DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL') }),
            reporter('print', {}),
            reporter(
              'webhook',
              {
                endpoint: url(),
                consumer_key: str(),
                token_key: str(),
                token_secret: str(),
                consumer_secret: str(),
                timeout: num({ minimum: 0 }),
                retries: int({ minimum: 0 }),
              },
              ['type', 'endpoint'],
            ),
            reporter('hyperv', { kvp_file_path: str(), event_types: strs() }),
          ],
        },
      },
    },
  });

  // The root: every module's keys, and nothing else at the top level.
  const moduleDefs = Object.keys(defs).filter((name) => name === 'base_config' || name.startsWith('cc_') || name.endsWith('_config'));
  const topLevel = new Set<string>(['migrate', 'version']);
  for (const name of moduleDefs) for (const key of Object.keys(defs[name]!.properties ?? {})) topLevel.add(key);
  const root: Schema = {
    allOf: moduleDefs.map((name) => ref(name)),
    properties: Object.fromEntries([...topLevel].sort().map((key) => [key, {}])),
    additionalProperties: false,
  };
  return { version: SCHEMA_VERSION, defs, root };
}

/** JSON Schema (draft-04) for the whole thing, e.g. for editors or another validator. */
export function cloudConfigJsonSchema(): Record<string, unknown> {
  const { defs, root } = cloudConfigSchema();
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === '$ref' ? `#/$defs/${String(v)}` : rewrite(v)]));
    }
    return value;
  };
  return { $schema: 'http://json-schema.org/draft-04/schema#', $defs: rewrite(defs), ...(rewrite(root) as object) };
}
