/**
 * A provisioning profile (`kind: Profile`): a named, composable piece of
 * first-boot configuration. It includes other profiles and carries cloud-init
 * parts plus ingot's own higher-level parts (sysctl, systemd units, verified
 * downloads) and optional post-launch steps. Profiles never carry identity:
 * users with keys or passwords, SSH keys and hostnames come from deploy-time
 * parameters (`--set`), so one rendered profile fits every machine.
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { parseYaml } from '../manifest/yaml.js';
import { renderProblem } from '../manifest/problems.js';
import { parseSteps, type Step } from './steps.js';

/**
 * A verified download: the artifact comes from versions.yaml by name and is
 * checked against its sha256 before anything is installed. By default it is
 * installed as one file at `dest`; `extract` unpacks a tarball into `dest`
 * (`strip` leading path components); `deb` installs a .deb with apt-get;
 * `script` is a shell snippet that installs it itself, given the verified
 * file in "$ARTIFACT".
 */
export interface DownloadPart {
  /** Key in versions.yaml. */
  pin: string;
  /** Absolute path in the guest (a file, or a directory with `extract`). */
  dest?: string;
  mode?: string;
  extract?: boolean;
  /** With `extract`: leading path components to drop (tar --strip-components). */
  strip?: number;
  /** Install a Debian package with apt-get (dependencies resolved). */
  deb?: boolean;
  /** A custom install: runs with the verified download in $ARTIFACT. */
  script?: string;
}

/**
 * A systemd unit written to /etc/systemd/system. `enable` only enables it
 * (it starts at the next boot); `start` also starts it during first boot,
 * after every profile's runcmd — so a unit may depend on something runcmd
 * installs (the polis.service-after-Docker pattern).
 */
export interface UnitPart {
  name: string;
  content: string;
  enable?: boolean;
  start?: boolean;
}

/**
 * Where a profile's downloads run: merging puts one `{ [DOWNLOAD_MARKER]: part }`
 * item before the profile's own runcmd items, so each download runs right
 * before the commands of the profile that asked for it (Sysbox after Docker);
 * rendering turns the marker into the verified-download script.
 */
export const DOWNLOAD_MARKER = 'ingot:download';

/** The parts a profile contributes; merged across includes. */
export interface ProfileParts {
  /** Raw cloud-config keys (packages, write_files, runcmd, bootcmd, apt, …). */
  cloudConfig: Record<string, unknown>;
  sysctl: Record<string, unknown>;
  units: UnitPart[];
  downloads: DownloadPart[];
  /** Post-launch steps, in order. */
  launch: Step[];
}

/** One profile file as written. */
export interface ProfileFile {
  name: string;
  file: string;
  description?: string;
  includes: string[];
  parts: ProfileParts;
}

const TOP_KEYS = ['kind', 'name', 'description', 'includes', 'cloud-config', 'sysctl', 'units', 'downloads', 'launch'];

/** Keys that carry identity: deploy-time parameters only, never a profile. */
export const IDENTITY_KEYS = ['hostname', 'fqdn', 'ssh_authorized_keys', 'chpasswd', 'password', 'user'] as const;

/** The path of profile NAME in `dir` (NAME may already be a path to a .yaml file). */
export function profilePath(dir: string, name: string): string {
  if (name.endsWith('.yaml') || name.endsWith('.yml')) return path.resolve(dir, name);
  return path.resolve(dir, `${name}.yaml`);
}

/** Reads and checks one profile file (not its includes). */
export async function loadProfileFile(file: string): Promise<ProfileFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new IngotError(ErrorCode.profileInvalid, `profile not found: ${file}`, {
      path: file,
      hint: 'check the profile name and --profiles-dir',
      exitCode: ExitCode.usage,
      cause: error,
    });
  }
  return parseProfile(text, file);
}

/** Parses profile text; every problem is an INGOT_PROFILE_INVALID naming file:line. */
export function parseProfile(text: string, file: string): ProfileFile {
  const parsed = parseYaml(text, file);
  const fail = (message: string, where: (string | number)[] = [], hint?: string): never => {
    const { line, column } = where.length ? positionAt(parsed, where) : { line: 1, column: 1 };
    throw new IngotError(ErrorCode.profileInvalid, `${file}:${line}:${column}: ${message}`, { path: file, hint, exitCode: ExitCode.usage });
  };
  if (parsed.problems.length) {
    throw new IngotError(ErrorCode.profileInvalid, parsed.problems.map((p) => renderProblem(p, text)).join('\n'), {
      path: file,
      exitCode: ExitCode.usage,
    });
  }
  const data = parsed.data;
  if (!isRecord(data)) return fail('expected a mapping with kind: Profile');
  if (data.kind !== 'Profile') fail(`expected kind: Profile, got ${JSON.stringify(data.kind)}`, ['kind']);
  for (const key of Object.keys(data)) {
    if (!TOP_KEYS.includes(key)) fail(`unknown key "${key}"`, [key], `known keys: ${TOP_KEYS.join(', ')}`);
  }
  const name = typeof data.name === 'string' ? data.name : path.basename(file).replace(/\.ya?ml$/, '');
  const includes = data.includes ?? [];
  if (!Array.isArray(includes) || !includes.every((i) => typeof i === 'string')) fail('includes must be a list of profile names', ['includes']);
  const cloudConfig = data['cloud-config'] ?? {};
  if (!isRecord(cloudConfig)) return fail('cloud-config must be a mapping', ['cloud-config']);
  for (const key of IDENTITY_KEYS) {
    if (key in cloudConfig) {
      fail(
        `"${key}" is identity and cannot be set in a profile`,
        ['cloud-config', key],
        `pass it at deploy time: --set ${key === 'ssh_authorized_keys' ? 'ssh_key' : key}=…`,
      );
    }
  }
  if (Array.isArray(cloudConfig.users)) {
    cloudConfig.users.forEach((user, i) => {
      if (!isRecord(user) || user.system !== true || 'ssh_authorized_keys' in user || 'passwd' in user || 'hashed_passwd' in user) {
        fail(
          'a profile may only declare system users (system: true, no keys or passwords)',
          ['cloud-config', 'users', i],
          'people log in with --set user=NAME --set ssh_key=…',
        );
      }
    });
  } else if (cloudConfig.users !== undefined) {
    fail('users must be a list of system users', ['cloud-config', 'users']);
  }
  const sysctl = data.sysctl ?? {};
  if (!isRecord(sysctl)) return fail('sysctl must be a mapping of key: value', ['sysctl']);
  const units = data.units ?? [];
  if (!Array.isArray(units)) return fail('units must be a list', ['units']);
  units.forEach((u, i) => {
    if (!isRecord(u) || typeof u.name !== 'string' || typeof u.content !== 'string') {
      fail('a unit needs name and content', ['units', i]);
      return;
    }
    for (const key of Object.keys(u)) {
      if (!['name', 'content', 'enable', 'start'].includes(key))
        fail(`unknown unit key "${key}"`, ['units', i, key], 'a unit takes name, content, enable (at boot) and start (now, after runcmd)');
    }
    for (const key of ['enable', 'start'] as const) {
      if (u[key] !== undefined && typeof u[key] !== 'boolean') fail(`${key} must be true or false`, ['units', i, key]);
    }
    if (!/^[\w@.:-]+\.(service|socket|timer|path|mount|target)$/.test(u.name))
      fail(`unit name "${u.name}" must end in .service, .socket, .timer, .path, .mount or .target`, ['units', i, 'name']);
  });
  const downloads = data.downloads ?? [];
  if (!Array.isArray(downloads)) return fail('downloads must be a list', ['downloads']);
  downloads.forEach((d, i) => {
    if (!isRecord(d) || typeof d.pin !== 'string') {
      fail('a download needs pin (a name in versions.yaml)', ['downloads', i]);
      return;
    }
    for (const key of Object.keys(d)) {
      if (!['pin', 'dest', 'mode', 'extract', 'strip', 'deb', 'script'].includes(key))
        fail(`unknown download key "${key}"`, ['downloads', i, key], 'a download takes pin, dest, mode, extract, strip, deb, script');
    }
    const how = [d.extract === true, d.deb === true, typeof d.script === 'string'].filter(Boolean).length;
    if (how > 1) fail('use one of extract, deb and script', ['downloads', i]);
    const needsDest = d.deb !== true && typeof d.script !== 'string';
    if (needsDest && (typeof d.dest !== 'string' || !d.dest.startsWith('/')))
      fail('a download needs an absolute dest (unless it is a deb or has a script)', ['downloads', i]);
    if (d.dest !== undefined && (typeof d.dest !== 'string' || !d.dest.startsWith('/'))) fail('dest must be an absolute path', ['downloads', i, 'dest']);
    if (d.strip !== undefined && (d.extract !== true || typeof d.strip !== 'number' || !Number.isInteger(d.strip) || d.strip < 0))
      fail('strip is a whole number and goes with extract: true', ['downloads', i, 'strip']);
    if (d.mode !== undefined && (typeof d.mode !== 'string' || !/^0?[0-7]{3,4}$/.test(d.mode)))
      fail("mode must be a quoted octal string such as '0755'", ['downloads', i, 'mode']);
  });
  const launch = parseSteps(data.launch, file, fail);
  return {
    name,
    file,
    ...(typeof data.description === 'string' ? { description: data.description } : {}),
    includes: includes as string[],
    parts: {
      cloudConfig,
      sysctl,
      units: units as UnitPart[],
      downloads: downloads as DownloadPart[],
      launch,
    },
  };
}

/** A plain object (not an array, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function positionAt(parsed: ReturnType<typeof parseYaml>, where: (string | number)[]) {
  const offset = nodeOffset(parsed, where);
  const pos = parsed.lineCounter.linePos(offset);
  return { line: pos.line, column: pos.col };
}

function nodeOffset(parsed: ReturnType<typeof parseYaml>, where: (string | number)[]): number {
  // getIn returns the node when keepScalar is set; fall back to the document start.
  const node = parsed.doc.getIn(where, true) as { range?: [number, number, number] } | undefined;
  if (node && typeof node === 'object' && node.range) return node.range[0];
  return 0;
}
