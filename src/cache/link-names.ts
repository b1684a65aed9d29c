/**
 * Link names per family. By default a family's link is `current-<family>`
 * (`current` for images without one); `ingot pull --link NAME` names it
 * otherwise — `current` for a kernel family, so the guest-init document's
 * layout holds for images that have families and channels — and the cache
 * remembers the choice in `.ingot/links.json` for later pulls, `cache use`,
 * `cache rollback` and `cache list`. Every link name starts with "current"
 * (retention protects, and `cache list` shows, exactly those names).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { cachePaths, linkName, writeFileAtomic } from './layout.js';

/** family → link name, for the families that do not use the default. */
export type LinkNames = Readonly<Record<string, string>>;

const FILE = 'links.json';

/** The remembered link names of a cache ({} when none). */
export async function loadLinkNames(cacheDir: string): Promise<LinkNames> {
  const file = path.join(cachePaths(cacheDir).stateDir, FILE);
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return {};
  try {
    const doc = JSON.parse(text) as { schemaVersion?: unknown; families?: unknown };
    const families = doc.families;
    if (doc.schemaVersion !== 1 || typeof families !== 'object' || families === null || Array.isArray(families)) throw new Error('unexpected shape');
    const out: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const [family, link] of Object.entries(families)) {
      if (typeof link !== 'string' || linkNameProblem(link)) throw new Error(`bad link name for family "${family}"`);
      out[family] = link;
    }
    return out;
  } catch (error) {
    throw new IngotError(ErrorCode.cacheNotFound, `cache link names are damaged: ${file}: ${(error as Error).message}`, {
      path: file,
      hint: 'move the file away: links fall back to current-<family>',
    });
  }
}

/** The link of `family` in this cache. */
export function linkFor(names: LinkNames, family: string): string {
  return Object.hasOwn(names, family) ? names[family]! : linkName(family);
}

/** Why `link` cannot be a link name, or undefined. */
export function linkNameProblem(link: string): string | undefined {
  if (!/^current(-[A-Za-z0-9._+-]+)?$/.test(link) || link.endsWith('.sha256')) {
    return 'must be "current" or "current-<name>" (letters, digits, ".", "_", "+", "-")';
  }
  return undefined;
}

/**
 * Decides the link name of `family` (undefined: keep what is remembered).
 * Refuses a name another family, or a boot pair (`taken`), already uses.
 * Returns the link to use, the one it replaces when the name changed, and
 * `remember()`, to call once the new link is in place.
 */
export async function chooseLink(
  cacheDir: string,
  family: string,
  wanted: string | undefined,
  otherFamilies: Iterable<string>,
  taken: ReadonlySet<string> = new Set(),
): Promise<{ link: string; previous?: string; remember(): Promise<void> }> {
  const names = await loadLinkNames(cacheDir);
  const current = linkFor(names, family);
  const link = wanted ?? current;
  if (taken.has(link)) {
    throw new IngotError(ErrorCode.cacheConflict, `link ${link} is a boot pair's link in this cache`, {
      hint: `give this family another link with --link, or use a separate cache directory (--to)`,
      exitCode: ExitCode.usage,
    });
  }
  const problem = link === current ? undefined : linkNameProblem(link);
  if (problem) throw new IngotError(ErrorCode.usage, `--link ${link}: ${problem}`, { exitCode: ExitCode.usage });
  for (const other of new Set([...otherFamilies, ...Object.keys(names)])) {
    if (other !== family && linkFor(names, other) === link) {
      throw new IngotError(ErrorCode.cacheConflict, `link ${link} already belongs to ${other === '' ? 'the images without a family' : `family "${other}"`} in this cache`, {
        hint: 'choose another --link, or use a separate cache directory (--to)',
        exitCode: ExitCode.usage,
      });
    }
  }
  if (link === current) return { link, remember: async () => undefined };
  const next = { ...names, [family]: link };
  return {
    link,
    previous: current,
    remember: () => writeFileAtomic(path.join(cachePaths(cacheDir).stateDir, FILE), `${JSON.stringify({ schemaVersion: 1, families: next }, null, 2)}\n`),
  };
}
