/**
 * Composing profiles. Includes are resolved depth-first in the order written,
 * each profile at most once (a diamond includes `base` once), and the
 * including profile is applied after its includes. Merge rules:
 *   - maps deep-merge;
 *   - lists append, in include order;
 *   - a scalar set to different values by two profiles is an error naming both
 *     files (no silent last-wins), and so is a map meeting a list;
 *   - an include cycle is an error showing the chain.
 * Units merge by name and downloads by pin and destination, so two profiles writing
 * the same unit differently conflict like scalars do. Post-launch steps are
 * a list and append in include order.
 */
import * as path from 'node:path';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { DOWNLOAD_MARKER, isRecord, loadProfileFile, profilePath, type ProfileFile, type ProfileParts } from './profile.js';

/** The merged result of a profile and everything it includes. */
export interface ResolvedProfile {
  name: string;
  /** Files in the order they were applied (includes first). */
  files: string[];
  parts: ProfileParts;
}

/** Loads profile NAME from `profilesDir` with all its includes and merges them. */
export async function resolveProfile(
  profilesDir: string,
  name: string,
  load: (file: string) => Promise<ProfileFile> = loadProfileFile,
): Promise<ResolvedProfile> {
  const order: ProfileFile[] = [];
  const done = new Set<string>();
  const visit = async (file: string, stack: string[]) => {
    if (stack.includes(file)) {
      const chain = [...stack.slice(stack.indexOf(file)), file];
      throw new IngotError(ErrorCode.profileCycle, `include cycle: ${chain.join(' → ')}`, {
        path: file,
        hint: 'remove one of the includes so the chain ends',
        exitCode: ExitCode.usage,
      });
    }
    if (done.has(file)) return;
    const profile = await load(file);
    for (const include of profile.includes) {
      await visit(includePath(profilesDir, profile.file, include), [...stack, file]);
    }
    done.add(file);
    order.push(profile);
  };
  await visit(profilePath(profilesDir, name), []);
  // Named after the profile asked for: its own `name:`, which for a path differs from the argument.
  return mergeProfiles(order, order.at(-1)?.name ?? name);
}

/** Merges already-loaded profiles in the given order (includes first). */
export function mergeProfiles(profiles: readonly ProfileFile[], name = profiles.at(-1)?.name ?? 'profile'): ResolvedProfile {
  const tree: Record<string, unknown> = {};
  const origins = new Map<string, string>();
  for (const profile of profiles) mergeInto(tree, toTree(profile.parts), profile.file, [], origins);
  return { name, files: profiles.map((p) => p.file), parts: fromTree(tree) };
}

/** Deep-merges `source` (from `file`) into `target`, recording who set what. */
export function mergeInto(target: Record<string, unknown>, source: Record<string, unknown>, file: string, at: string[], origins: Map<string, string>): void {
  for (const [key, value] of Object.entries(source)) {
    const where = [...at, key];
    const id = JSON.stringify(where);
    if (!(key in target)) {
      target[key] = structuredClone(value);
      record(value, where, file, origins);
      continue;
    }
    const existing = target[key];
    if (isRecord(existing) && isRecord(value)) {
      mergeInto(existing, value, file, where, origins);
    } else if (Array.isArray(existing) && Array.isArray(value)) {
      existing.push(...structuredClone(value));
    } else if (!isRecord(existing) && !Array.isArray(existing) && !isRecord(value) && !Array.isArray(value)) {
      if (existing !== value) throw conflict(where, origins.get(id), file, `${JSON.stringify(existing)} vs ${JSON.stringify(value)}`);
    } else {
      throw conflict(where, origins.get(id), file, `${kind(existing)} vs ${kind(value)}`);
    }
  }
}

function record(value: unknown, where: string[], file: string, origins: Map<string, string>) {
  origins.set(JSON.stringify(where), file);
  if (isRecord(value)) for (const [k, v] of Object.entries(value)) record(v, [...where, k], file, origins);
}

function conflict(where: string[], first: string | undefined, second: string, detail: string): IngotError {
  return new IngotError(ErrorCode.profileConflict, `conflicting values for ${where.join('.')} (${detail}): set by ${first ?? '?'} and by ${second}`, {
    path: second,
    hint: 'set the value in one profile only, or make both agree',
    exitCode: ExitCode.usage,
    details: { key: where.join('.'), files: [first, second] },
  });
}

function kind(value: unknown): string {
  return Array.isArray(value) ? 'a list' : isRecord(value) ? 'a map' : `the scalar ${JSON.stringify(value)}`;
}

function includePath(profilesDir: string, from: string, include: string): string {
  // A bare name is a sibling of the including profile; a path is relative to it.
  if (include.includes('/') || /\.ya?ml$/.test(include)) return path.resolve(path.dirname(from), include);
  return profilePath(path.dirname(from) || profilesDir, include);
}

function toTree(parts: ProfileParts): Record<string, unknown> {
  // Each profile's downloads run just before its own runcmd items (see DOWNLOAD_MARKER).
  const runcmd = parts.cloudConfig.runcmd;
  const cloudConfig = parts.downloads.length
    ? {
        ...parts.cloudConfig,
        runcmd: [...parts.downloads.map((d) => ({ [DOWNLOAD_MARKER]: d })), ...(Array.isArray(runcmd) ? runcmd : runcmd === undefined ? [] : [runcmd])],
      }
    : parts.cloudConfig;
  return {
    'cloud-config': cloudConfig,
    sysctl: parts.sysctl,
    units: Object.fromEntries(parts.units.map((u) => [u.name, u])),
    downloads: Object.fromEntries(parts.downloads.map((d) => [`${d.pin}@${d.dest ?? ''}`, d])),
    // Post-launch steps are a list: they append in include order like runcmd.
    launch: parts.launch,
  };
}

function fromTree(tree: Record<string, unknown>): ProfileParts {
  const obj = (key: string) => (isRecord(tree[key]) ? (tree[key] as Record<string, unknown>) : {});
  return {
    cloudConfig: obj('cloud-config'),
    sysctl: obj('sysctl'),
    units: Object.values(obj('units')) as ProfileParts['units'],
    downloads: Object.values(obj('downloads')) as ProfileParts['downloads'],
    launch: Array.isArray(tree.launch) ? (tree.launch as ProfileParts['launch']) : [],
  };
}
