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

/** A verified download: the artifact comes from versions.yaml by name. */
export interface DownloadPart {
  /** Key in versions.yaml. */
  pin: string;
  /** Absolute path in the guest. */
  dest: string;
  mode?: string;
  /** Unpack a tarball into `dest` (a directory) instead of installing a file. */
  extract?: boolean;
}

/** A systemd unit written to /etc/systemd/system and optionally enabled. */
export interface UnitPart {
  name: string;
  content: string;
  enable?: boolean;
}

/** A post-launch health check: a command in the guest that must exit 0 in time. */
export interface HealthCheck {
  name: string;
  command: string;
  timeoutSeconds?: number;
}

/** Steps run from the host after cloud-init reported ready. */
export interface PostLaunch {
  /** A local directory copied to `bundleDest` in the guest (exec bits restored). */
  bundle?: string;
  bundleDest?: string;
  /** Shell commands run in the guest, in order. */
  commands?: string[];
  /** A YAML/JSON map image-reference → sha256 digest, checked with `docker inspect`. */
  imageDigests?: string;
  health?: HealthCheck[];
}

/** The parts a profile contributes; merged across includes. */
export interface ProfileParts {
  /** Raw cloud-config keys (packages, write_files, runcmd, bootcmd, apt, …). */
  cloudConfig: Record<string, unknown>;
  sysctl: Record<string, unknown>;
  units: UnitPart[];
  downloads: DownloadPart[];
  launch: PostLaunch;
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
      fail(`"${key}" is identity and cannot be set in a profile`, ['cloud-config', key], `pass it at deploy time: --set ${key === 'ssh_authorized_keys' ? 'ssh_key' : key}=…`);
    }
  }
  if (Array.isArray(cloudConfig.users)) {
    cloudConfig.users.forEach((user, i) => {
      if (!isRecord(user) || user.system !== true || 'ssh_authorized_keys' in user || 'passwd' in user || 'hashed_passwd' in user) {
        fail('a profile may only declare system users (system: true, no keys or passwords)', ['cloud-config', 'users', i], 'people log in with --set user=NAME --set ssh_key=…');
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
    if (!isRecord(u) || typeof u.name !== 'string' || typeof u.content !== 'string') fail('a unit needs name and content', ['units', i]);
  });
  const downloads = data.downloads ?? [];
  if (!Array.isArray(downloads)) return fail('downloads must be a list', ['downloads']);
  downloads.forEach((d, i) => {
    if (!isRecord(d) || typeof d.pin !== 'string' || typeof d.dest !== 'string' || !d.dest.startsWith('/')) {
      fail('a download needs pin (a name in versions.yaml) and an absolute dest', ['downloads', i]);
    }
  });
  const launch = data.launch ?? {};
  if (!isRecord(launch)) return fail('launch must be a mapping', ['launch']);
  const resolvedLaunch: PostLaunch = { ...(launch as PostLaunch) };
  // Paths in a profile are relative to the profile's own file.
  if (typeof launch.bundle === 'string') resolvedLaunch.bundle = path.resolve(path.dirname(file), launch.bundle);
  if (typeof launch.imageDigests === 'string') resolvedLaunch.imageDigests = path.resolve(path.dirname(file), launch.imageDigests);
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
      launch: resolvedLaunch,
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
