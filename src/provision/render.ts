/**
 * Rendering a resolved profile to `#cloud-config` user-data: build one plain
 * object and serialise it with the yaml library (no text templates).
 *
 * cloud-init joins every runcmd (and bootcmd) item into ONE /bin/sh script,
 * whose exit status is that of its last line; so the rendered list starts with
 * `set -e` (a failing item fails the stage) and every multi-line block runs as
 * `bash -c` with `set -euo pipefail` as its first line (dash has no pipefail).
 * Order of runcmd: sysctl reload, verified downloads, units, then the
 * profiles' own items in include order.
 */
import { Document, isScalar, isSeq } from 'yaml';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import type { ResolvedProfile } from './merge.js';
import type { DeployParams } from './params.js';
import { isRecord, type DownloadPart } from './profile.js';
import { shq, STRICT } from './shell.js';
import { getPin, type Versions } from './versions.js';

/** Bounded retries for downloads in the guest (curl's own backoff). */
export const DOWNLOAD_RETRIES = 5;

/** Rendered user-data plus the data it came from. */
export interface Rendered {
  text: string;
  config: Record<string, unknown>;
}

/** Canonical order of top-level keys; anything else follows, sorted. */
const KEY_ORDER = [
  'hostname', 'fqdn', 'prefer_fqdn_over_hostname', 'users', 'ssh_authorized_keys', 'disable_root', 'ssh_pwauth',
  'timezone', 'locale', 'apt', 'package_update', 'package_upgrade', 'package_reboot_if_required', 'packages',
  'write_files', 'mounts', 'bootcmd', 'runcmd', 'final_message',
];

/** Renders `profile` with `params`; `versions` is required when it downloads anything. */
export function renderUserData(profile: ResolvedProfile, params: DeployParams, versions?: Versions): Rendered {
  const parts = profile.parts;
  const config: Record<string, unknown> = structuredClone(parts.cloudConfig);

  const writeFiles = asList(config.write_files);
  const pre: unknown[] = [];
  const sysctl = Object.entries(parts.sysctl);
  if (sysctl.length) {
    writeFiles.push({ path: '/etc/sysctl.d/90-ingot.conf', permissions: '0644', content: sysctl.map(([k, v]) => `${k} = ${String(v)}\n`).join('') });
    // systemd-sysctl ran before cloud-init wrote the file: apply it now.
    pre.push(['systemctl', 'restart', 'systemd-sysctl.service']);
  }
  for (const item of parts.downloads) pre.push(['bash', '-c', downloadScript(item, versions)]);
  if (parts.units.length) {
    for (const unit of parts.units) writeFiles.push({ path: `/etc/systemd/system/${unit.name}`, permissions: '0644', content: ensureNewline(unit.content) });
    pre.push(['systemctl', 'daemon-reload']);
    for (const unit of parts.units) if (unit.enable) pre.push(['systemctl', 'enable', '--now', unit.name]);
  }
  if (writeFiles.length) config.write_files = writeFiles.map(normaliseWriteFile);

  const runcmd = [...pre, ...asList(config.runcmd)];
  if (runcmd.length) config.runcmd = strictCommands(runcmd);
  if (config.bootcmd !== undefined) config.bootcmd = strictCommands(asList(config.bootcmd));

  applyIdentity(config, params);
  const ordered = orderKeys(config);
  const header = `#cloud-config\n# rendered by ingot from profile "${profile.name}"\n`;
  return { text: header + serialise(ordered), config: ordered };
}

/** YAML text of the config; short argv lists in runcmd/bootcmd go on one line. */
function serialise(config: Record<string, unknown>): string {
  const doc = new Document(config, { aliasDuplicateObjects: false });
  for (const key of ['runcmd', 'bootcmd']) {
    const list = doc.get(key, true);
    if (!isSeq(list)) continue;
    for (const item of list.items) {
      if (isSeq(item) && item.items.every((a) => isScalar(a) && !String(a.value).includes('\n'))) item.flow = true;
    }
  }
  return doc.toString({ lineWidth: 0 });
}

/** `set -e` first, then single lines as they are and multi-line blocks as strict bash. */
export function strictCommands(items: readonly unknown[]): unknown[] {
  const out: unknown[] = ['set -e'];
  for (const item of items) {
    if (item === 'set -e') continue;
    if (typeof item === 'string' && item.trim().includes('\n')) out.push(['bash', '-c', strictBlock(item)]);
    else if (Array.isArray(item) && item.length === 3 && item[0] === 'bash' && item[1] === '-c' && typeof item[2] === 'string') out.push(['bash', '-c', strictBlock(item[2])]);
    else out.push(item);
  }
  return out;
}

/** A script body whose first line is `set -euo pipefail` (an existing `set -e…` first line is replaced). */
export function strictBlock(script: string): string {
  const lines = script.replace(/^\s*\n/, '').split('\n');
  if (/^\s*set -e/.test(lines[0] ?? '')) lines.shift();
  return ensureNewline([STRICT, ...lines].join('\n').replace(/\n+$/, ''));
}

function downloadScript(item: DownloadPart, versions: Versions | undefined): string {
  if (!versions) {
    throw new IngotError(ErrorCode.versionsInvalid, `the profile downloads "${item.pin}" but no versions file was given`, {
      exitCode: ExitCode.usage,
      hint: 'pass --versions versions.yaml',
    });
  }
  const pin = getPin(versions, item.pin);
  const install = item.extract
    ? [`install -d -m 0755 ${shq(item.dest)}`, `tar -xf "$tmp" -C ${shq(item.dest)}`]
    : [`install -D -m ${shq(item.mode ?? '0755')} "$tmp" ${shq(item.dest)}`];
  return ensureNewline(
    [
      STRICT,
      `# ${pin.name} ${pin.version} (versions.yaml)`,
      'tmp="$(mktemp)"',
      'trap \'rm -f "$tmp"\' EXIT',
      `curl -fsSL --proto '=https' --retry ${DOWNLOAD_RETRIES} --retry-delay 2 --retry-all-errors --connect-timeout 20 -o "$tmp" ${shq(pin.url)}`,
      `echo ${shq(`${pin.sha256}  `)}"$tmp" | sha256sum -c --strict -`,
      ...install,
    ].join('\n'),
  );
}

function applyIdentity(config: Record<string, unknown>, params: DeployParams) {
  if (params.hostname) config.hostname = params.hostname;
  if (params.fqdn) config.fqdn = params.fqdn;
  const systemUsers = asList(config.users);
  if (params.user) {
    const user: Record<string, unknown> = {
      name: params.user,
      shell: '/bin/bash',
      sudo: 'ALL=(ALL) NOPASSWD:ALL',
      lock_passwd: true,
    };
    if (params.groups?.length) user.groups = params.groups.join(', ');
    if (params.sshKeys.length) user.ssh_authorized_keys = params.sshKeys;
    config.users = [user, ...systemUsers];
  } else if (params.sshKeys.length) {
    config.ssh_authorized_keys = params.sshKeys;
  }
}

function normaliseWriteFile(entry: unknown): unknown {
  if (!isRecord(entry) || typeof entry.permissions !== 'number') return entry;
  // A YAML 0644 read as a number would be decimal 644 in cloud-init: keep it a string.
  return { ...entry, permissions: `0${entry.permissions.toString(8)}` };
}

function orderKeys(config: Record<string, unknown>): Record<string, unknown> {
  const keys = Object.keys(config);
  const known = KEY_ORDER.filter((k) => keys.includes(k));
  const rest = keys.filter((k) => !KEY_ORDER.includes(k)).sort();
  return Object.fromEntries([...known, ...rest].map((k) => [k, config[k]]));
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? [...value] : value === undefined ? [] : [value];
}

function ensureNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}
