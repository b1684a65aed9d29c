/**
 * Rendering a resolved profile to `#cloud-config` user-data: build one plain
 * object and serialise it with the yaml library (no text templates).
 *
 * cloud-init joins every runcmd (and bootcmd) item into ONE /bin/sh script,
 * whose exit status is that of its last line; so the rendered list starts with
 * `set -e` (a failing item fails the stage) and every multi-line block runs as
 * `bash -c` with `set -euo pipefail` as its first line (dash has no pipefail).
 * Order of runcmd: sysctl reload, units written and enabled (`systemctl
 * enable`, which needs nothing the unit depends on to exist yet), then per
 * profile in include order its verified downloads and its own items, and last `systemctl
 * start` of the units marked `start: true` — so a unit may require a service
 * a profile's runcmd installs (000's polis.service after Docker).
 */
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { yaml } from '../manifest/yaml.js';
import type { ResolvedProfile } from './merge.js';
import type { DeployParams } from './params.js';
import { DOWNLOAD_MARKER, isRecord, type DownloadPart } from './profile.js';
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
  'hostname',
  'fqdn',
  'prefer_fqdn_over_hostname',
  'users',
  'ssh_authorized_keys',
  'disable_root',
  'ssh_pwauth',
  'timezone',
  'locale',
  'apt',
  'package_update',
  'package_upgrade',
  'package_reboot_if_required',
  'packages',
  'write_files',
  'mounts',
  'bootcmd',
  'runcmd',
  'final_message',
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
  const post: unknown[] = [];
  if (parts.units.length) {
    for (const unit of parts.units) writeFiles.push({ path: `/etc/systemd/system/${unit.name}`, permissions: '0644', content: ensureNewline(unit.content) });
    pre.push(['systemctl', 'daemon-reload']);
    const enable = parts.units.filter((u) => u.enable).map((u) => u.name);
    if (enable.length) pre.push(['systemctl', 'enable', ...enable]);
    const start = parts.units.filter((u) => u.start).map((u) => u.name);
    // After the profiles' runcmd: what the units need exists by now. daemon-reload first,
    // since runcmd may have installed units of its own (a package's docker.service).
    if (start.length) post.push(['systemctl', 'daemon-reload'], ['systemctl', 'start', ...start]);
  }
  if (writeFiles.length) config.write_files = writeFiles.map(normaliseWriteFile);

  const done = new Set<string>();
  const own = asList(config.runcmd).flatMap((item) => {
    if (!isRecord(item) || !(DOWNLOAD_MARKER in item)) return [item];
    const download = item[DOWNLOAD_MARKER] as DownloadPart;
    // A download two profiles share is installed once.
    const key = JSON.stringify(download);
    if (done.has(key)) return [];
    done.add(key);
    return [['bash', '-c', downloadScript(download, versions)]];
  });
  const runcmd = [...pre, ...own, ...post];
  if (runcmd.length) config.runcmd = strictCommands(runcmd);
  if (config.bootcmd !== undefined) config.bootcmd = strictCommands(asList(config.bootcmd));

  applyIdentity(config, params);
  const ordered = orderKeys(config);
  const header = `#cloud-config\n# rendered by ingot from profile "${profile.name}"\n`;
  return { text: header + serialise(ordered), config: ordered };
}

/** YAML text of the config; short argv lists in runcmd/bootcmd go on one line. */
function serialise(config: Record<string, unknown>): string {
  const { Document, isScalar, isSeq } = yaml();
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
    else if (Array.isArray(item) && item.length === 3 && item[0] === 'bash' && item[1] === '-c' && typeof item[2] === 'string')
      out.push(['bash', '-c', strictBlock(item[2])]);
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
  if (!pin.sha256) {
    throw new IngotError(ErrorCode.versionsInvalid, `pin "${pin.name}" in ${versions.file} has no sha256 yet: it cannot be installed unverified`, {
      path: versions.file,
      exitCode: ExitCode.usage,
      hint: `record its digest with \`ingot versions bump ${pin.name} ${pin.version}\` (downloads it and writes the sha256)`,
    });
  }
  const file = pin.url.split('/').pop()?.split('?')[0] || 'artifact';
  let install: string[];
  if (item.deb) install = ['DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$ARTIFACT"'];
  else if (item.script !== undefined) install = [item.script.trimEnd()];
  else if (item.extract)
    install = [
      `install -d -m 0755 ${shq(item.dest!)}`,
      `tar -xf "$ARTIFACT" -C ${shq(item.dest!)}${item.strip ? ` --strip-components=${item.strip}` : ''} --no-same-owner`,
    ];
  else install = [`install -D -m ${shq(item.mode ?? '0755')} "$ARTIFACT" ${shq(item.dest!)}`];
  return ensureNewline(
    [
      STRICT,
      `# ${pin.name} ${pin.version} (versions.yaml)`,
      // A directory of its own, so the file keeps its name (apt-get wants *.deb) and goes away whole.
      'tmp="$(mktemp -d)"',
      'trap \'rm -rf "$tmp"\' EXIT',
      `ARTIFACT="$tmp"/${shq(file)}`,
      `curl -fsSL --proto '=https' --retry ${DOWNLOAD_RETRIES} --retry-delay 2 --retry-all-errors --connect-timeout 20 -o "$ARTIFACT" ${shq(pin.url)}`,
      `echo ${shq(`${pin.sha256}  `)}"$ARTIFACT" | sha256sum -c --strict -`,
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
  } else {
    if (params.sshKeys.length) config.ssh_authorized_keys = params.sshKeys;
    // A users list replaces the distro's default user: keep it when a profile only adds system users
    // (multipass reaches its instances through the default user).
    if (systemUsers.length) config.users = ['default', ...systemUsers];
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
