/**
 * Where a manifest's relative source paths start (`spec.root`): packer
 * template directories, `file` sources and initramfs inputs resolve against
 * it and may never leave it. By default it is the manifest's directory; for
 * the labctl-compatible form (`apiVersion: images.lab.gilman.io/v1alpha1`)
 * it is the top level of the enclosing Git repository, found by looking for
 * `.git` upward (no git binary needed), because that form's paths are
 * written relative to the repository root.
 */
import { statSync } from 'node:fs';
import * as path from 'node:path';
import { ProblemCode } from './problems.js';
import type { RuleReport } from './rule-context.js';

/** The native form of the manifest. */
export const API_VERSION = 'ingot/v1alpha1';
/** The labctl-compatible form (the GitOps image pipeline's `images/images.yaml`), read unchanged. */
export const LABCTL_API_VERSION = 'images.lab.gilman.io/v1alpha1';
export const API_VERSIONS = [API_VERSION, LABCTL_API_VERSION] as const;
export type ApiVersion = (typeof API_VERSIONS)[number];

/** The source root of a manifest, how it was chosen, and any problem with it. */
export interface SourceRoot {
  /** Absolute directory. */
  dir: string;
  /** For messages: "spec.root", "the Git repository's top level", "the manifest's directory". */
  how: string;
  problems: RuleReport[];
}

/** The nearest directory at or above `start` holding `.git` (a directory, or a file in worktrees and submodules). */
export function findGitTop(start: string): string | undefined {
  let dir = path.resolve(start);
  for (;;) {
    try {
      statSync(path.join(dir, '.git'));
      return dir;
    } catch {
      // not here
    }
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Decides the source root; `hasLocalSources` says whether any image reads local paths (for the warning). */
export function sourceRoot(options: { manifestDir: string; apiVersion: string | undefined; root: string | undefined; hasLocalSources: boolean }): SourceRoot {
  const manifestDir = path.resolve(options.manifestDir);
  if (options.root !== undefined) {
    const problem = rootProblem(options.root, manifestDir);
    if (problem) return { dir: manifestDir, how: 'spec.root', problems: [problem] };
    return { dir: path.resolve(manifestDir, options.root), how: 'spec.root', problems: [] };
  }
  if (options.apiVersion === LABCTL_API_VERSION) {
    const top = findGitTop(manifestDir);
    if (top) return { dir: top, how: "the Git repository's top level", problems: [] };
    return {
      dir: manifestDir,
      how: "the manifest's directory",
      problems: options.hasLocalSources
        ? [
            {
              code: ProblemCode.sourceMissing,
              severity: 'warning',
              at: ['apiVersion'],
              message: `no Git repository around the manifest: with apiVersion ${LABCTL_API_VERSION}, source paths are relative to the repository's top level, so they resolve against the manifest's directory instead`,
              hint: 'run inside the repository, or set spec.root (relative to the manifest, e.g. "..")',
            },
          ]
        : [],
    };
  }
  return { dir: manifestDir, how: "the manifest's directory", problems: [] };
}

/** spec.root must be relative, and be the manifest's directory, one of its parents, or inside it; and exist. */
function rootProblem(root: string, manifestDir: string): RuleReport | undefined {
  const at = ['spec', 'root'];
  if (root === '' || path.isAbsolute(root) || root.includes('\\') || root.includes('\0')) {
    return {
      code: ProblemCode.unsafePath,
      at,
      message: `spec.root must be a relative directory, got "${root}"`,
      hint: 'write it relative to the manifest, e.g. ".." for the parent directory',
    };
  }
  const full = path.resolve(manifestDir, root);
  const up = path.relative(full, manifestDir);
  const down = path.relative(manifestDir, full);
  const isAncestor = !up.startsWith('..') && !path.isAbsolute(up);
  const isInside = !down.startsWith('..') && !path.isAbsolute(down);
  if (!isAncestor && !isInside) {
    return {
      code: ProblemCode.unsafePath,
      at,
      message: `spec.root "${root}" is neither the manifest's directory, one of its parents, nor inside it`,
      hint: 'point it at the repository root above the manifest (e.g. "..") or at a directory below it',
    };
  }
  let isDir = false;
  try {
    isDir = statSync(full).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) return { code: ProblemCode.sourceMissing, at, message: `spec.root "${root}" is not a directory (looked for ${full})` };
  return undefined;
}
