/**
 * ingot's own user-data validator. Debian's cloud-init 22.4 `schema` accepts
 * unknown top-level keys (a `packagez:` typo passes, measured here), so the
 * structure is checked here first: the `#cloud-config` header, known keys with
 * "did you mean", value types of the common modules, and strictness of
 * runcmd/bootcmd (warnings). Every problem carries file:line:col.
 */
import { parseYaml, positionOf, type ParsedYaml } from '../manifest/yaml.js';
import { suggest, type Problem } from '../manifest/problems.js';
import { isRecord } from './profile.js';

type Type = 'string' | 'boolean' | 'number' | 'list' | 'map' | 'string|list' | 'string|boolean' | 'boolean|map' | 'string|map' | 'any';

/** Top-level cloud-config keys (cloud-init 22.4–24.x modules) and their types. */
export const KNOWN_KEYS: Record<string, Type> = {
  apk_repos: 'map', apt: 'map', apt_pipelining: 'any', apt_reboot_if_required: 'boolean', apt_update: 'boolean', apt_upgrade: 'boolean',
  ansible: 'map', autoinstall: 'map', bootcmd: 'list', byobu_by_default: 'string', ca_certs: 'map', ca_certificates: 'map',
  chef: 'map', chpasswd: 'map', cloud_config_modules: 'list', cloud_final_modules: 'list', cloud_init_modules: 'list',
  create_hostname_file: 'boolean', datasource: 'map', datasource_list: 'list', device_aliases: 'map', disable_ec2_metadata: 'boolean',
  disable_root: 'boolean', disable_root_opts: 'string', disk_setup: 'map', drivers: 'map', fan: 'map', final_message: 'string',
  fqdn: 'string', fs_setup: 'list', groups: 'string|list', growpart: 'map', hostname: 'string', keyboard: 'map', landscape: 'map',
  locale: 'string|boolean', locale_configfile: 'string', lxd: 'map', manage_etc_hosts: 'string|boolean', manage_resolv_conf: 'boolean',
  mcollective: 'map', merge_how: 'any', merge_type: 'any', migrate: 'boolean', mount_default_fields: 'list', mounts: 'list', no_ssh_fingerprints: 'boolean',
  ntp: 'map', output: 'map', package_reboot_if_required: 'boolean', package_update: 'boolean', package_upgrade: 'boolean', packages: 'list',
  password: 'string', phone_home: 'map', power_state: 'map', preserve_hostname: 'boolean', prefer_fqdn_over_hostname: 'boolean',
  puppet: 'map', random_seed: 'map', reporting: 'map', resize_rootfs: 'string|boolean', resolv_conf: 'map', rh_subscription: 'map',
  rsyslog: 'map', runcmd: 'list', salt_minion: 'map', seed_random: 'map', snap: 'map', spacewalk: 'map', ssh: 'map',
  ssh_authorized_keys: 'list', ssh_deletekeys: 'boolean', ssh_fp_console_blacklist: 'list', ssh_genkeytypes: 'list',
  ssh_import_id: 'list', ssh_key_console_blacklist: 'list', ssh_keys: 'map', ssh_publish_hostkeys: 'map', ssh_pwauth: 'string|boolean',
  ssh_quiet_keygen: 'boolean', swap: 'map', system_info: 'map', timezone: 'string', ubuntu_advantage: 'map', ubuntu_pro: 'map',
  updates: 'map', user: 'string|map', users: 'string|list', vendor_data: 'map', wireguard: 'map', write_files: 'list',
  yum_repos: 'map', zypper: 'map',
};

const WRITE_FILE_KEYS: Record<string, Type> = {
  path: 'string', content: 'string', source: 'map', owner: 'string', permissions: 'string', encoding: 'string', append: 'boolean', defer: 'boolean',
};

/** Validates user-data text; returns every problem found (errors and warnings). */
export function validateUserData(text: string, file: string): Problem[] {
  const problems: Problem[] = [];
  const firstLine = text.split('\n', 1)[0]?.trimEnd();
  if (firstLine !== '#cloud-config') {
    problems.push(at(undefined, file, [], 'error', 'header', `the first line must be "#cloud-config", got ${JSON.stringify(firstLine ?? '')}`, 'cloud-init ignores user-data without this header'));
  }
  const parsed = parseYaml(text, file);
  if (parsed.problems.length) return [...problems, ...parsed.problems];
  const data = parsed.data;
  if (data === null || data === undefined) return problems;
  if (!isRecord(data)) return [...problems, at(parsed, file, [], 'error', 'type', 'expected a mapping at the top level')];
  for (const [key, value] of Object.entries(data)) {
    const type = KNOWN_KEYS[key];
    if (!type) {
      const guess = suggest(key, Object.keys(KNOWN_KEYS));
      problems.push(at(parsed, file, [key], 'error', 'unknown-key', `unknown key "${key}"${guess ? `; did you mean "${guess}"?` : ''}`, 'cloud-init silently ignores unknown keys', true));
      continue;
    }
    if (!hasType(value, type)) problems.push(at(parsed, file, [key], 'error', 'type', `${key}: expected ${type}, got ${describe(value)}`));
  }
  checkCommands(parsed, file, data, 'runcmd', problems);
  checkCommands(parsed, file, data, 'bootcmd', problems);
  checkWriteFiles(parsed, file, data, problems);
  checkPackages(parsed, file, data, problems);
  return problems;
}

function checkCommands(parsed: ParsedYaml, file: string, data: Record<string, unknown>, key: 'runcmd' | 'bootcmd', problems: Problem[]) {
  const items = data[key];
  if (!Array.isArray(items)) return;
  items.forEach((item, i) => {
    if (typeof item === 'string') {
      if (item.trim().includes('\n') && !/^\s*set -e/.test(item)) {
        problems.push(at(parsed, file, [key, i], 'warning', 'not-strict', `${key}[${i}]: a multi-line block without "set -e" ignores failing lines`, 'start the block with "set -euo pipefail" (and run it with bash)'));
      }
    } else if (Array.isArray(item)) {
      if (!item.every((a) => typeof a === 'string' || typeof a === 'number')) {
        problems.push(at(parsed, file, [key, i], 'error', 'type', `${key}[${i}]: an argv list must hold strings`));
      }
      const script = item[0] === 'bash' || item[0] === 'sh' ? item[2] : undefined;
      if ((item[1] === '-c') && typeof script === 'string' && script.includes('\n') && !/^\s*set -e/.test(script)) {
        problems.push(at(parsed, file, [key, i], 'warning', 'not-strict', `${key}[${i}]: a multi-line script without "set -e" ignores failing lines`, 'start it with "set -euo pipefail"'));
      }
    } else {
      problems.push(at(parsed, file, [key, i], 'error', 'type', `${key}[${i}]: expected a string or an argv list, got ${describe(item)}`));
    }
  });
  if (items.length > 1 && items[0] !== 'set -e' && !(typeof items[0] === 'string' && /^set -e/.test(items[0]))) {
    problems.push(at(parsed, file, [key], 'warning', 'not-strict', `${key} does not start with "set -e": cloud-init runs all items as one sh script, so only the last item's failure counts`, `make "set -e" the first item`));
  }
}

function checkWriteFiles(parsed: ParsedYaml, file: string, data: Record<string, unknown>, problems: Problem[]) {
  const items = data.write_files;
  if (!Array.isArray(items)) return;
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    if (!isRecord(item)) {
      problems.push(at(parsed, file, ['write_files', i], 'error', 'type', `write_files[${i}]: expected a mapping, got ${describe(item)}`));
      return;
    }
    if (typeof item.path !== 'string') problems.push(at(parsed, file, ['write_files', i], 'error', 'missing-field', `write_files[${i}]: "path" is required`));
    for (const [k, v] of Object.entries(item)) {
      const type = WRITE_FILE_KEYS[k];
      if (!type) {
        const guess = suggest(k, Object.keys(WRITE_FILE_KEYS));
        problems.push(at(parsed, file, ['write_files', i, k], 'error', 'unknown-key', `write_files[${i}]: unknown key "${k}"${guess ? `; did you mean "${guess}"?` : ''}`, undefined, true));
      } else if (!hasType(v, type)) {
        problems.push(at(parsed, file, ['write_files', i, k], 'error', 'type', `write_files[${i}].${k}: expected ${type}, got ${describe(v)}`, k === 'permissions' ? "quote it: permissions: '0644'" : undefined));
      }
    }
    if (typeof item.path === 'string' && item.append !== true) {
      const previous = seen.get(item.path);
      if (previous !== undefined) problems.push(at(parsed, file, ['write_files', i, 'path'], 'warning', 'duplicate-path', `write_files[${i}] overwrites ${item.path} written by write_files[${previous}]`));
      seen.set(item.path, i);
    }
  });
}

function checkPackages(parsed: ParsedYaml, file: string, data: Record<string, unknown>, problems: Problem[]) {
  const items = data.packages;
  if (!Array.isArray(items)) return;
  items.forEach((item, i) => {
    if (typeof item !== 'string' && !(Array.isArray(item) && item.length === 2 && item.every((s) => typeof s === 'string'))) {
      problems.push(at(parsed, file, ['packages', i], 'error', 'type', `packages[${i}]: expected a name or [name, version], got ${describe(item)}`));
    }
  });
}

function hasType(value: unknown, type: Type): boolean {
  return type.split('|').some((t) => {
    switch (t) {
      case 'string': return typeof value === 'string';
      case 'boolean': return typeof value === 'boolean';
      case 'number': return typeof value === 'number';
      case 'list': return Array.isArray(value);
      case 'map': return isRecord(value);
      default: return true;
    }
  });
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (isRecord(value)) return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function at(parsed: ParsedYaml | undefined, file: string, where: (string | number)[], severity: Problem['severity'], code: string, message: string, hint?: string, atKey = false): Problem {
  const { line, column } = parsed ? positionOf(parsed, where, atKey) : { line: 1, column: 1 };
  return { code, severity, message, ...(hint ? { hint } : {}), file, line, column, path: where };
}
