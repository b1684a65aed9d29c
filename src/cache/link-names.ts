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
import { cachePaths, cacheUnsafe, linkName, requireRegularOrAbsent, writeFileAtomic } from './layout.js';

/** family → link name, for the families that do not use the default. */
export type LinkNames = Readonly<Record<string, string>>;

const FILE = 'links.json';

/**
 * The remembered link names of a cache ({} when none). The file is input
 * like state.json: never read through a symlink, and every family and link
 * name in it checked before it becomes a path (INGOT_CACHE_UNSAFE).
 */
export async function loadLinkNames(cacheDir: string): Promise<LinkNames> {
  const file = linksFile(cacheDir);
  await requireRegularOrAbsent(file);
  const text = await fs.readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (text === undefined) return {};
  let families: object;
  try {
    const doc = JSON.parse(text) as { schemaVersion?: unknown; families?: unknown };
    if (doc.schemaVersion !== 1 || typeof doc.families !== 'object' || doc.families === null || Array.isArray(doc.families))
      throw new Error('unexpected shape');
    families = doc.families;
  } catch (error) {
    throw new IngotError(ErrorCode.cacheNotFound, `cache link names are damaged: ${file}: ${(error as Error).message}`, {
      path: file,
      hint: 'move the file away: links fall back to current-<family>',
    });
  }
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [family, link] of Object.entries(families)) {
    const problem = rememberedProblem(family, link);
    if (problem) {
      throw cacheUnsafe(
        `cache link names ${problem}`,
        file,
        'the file was edited by something other than ingot; move it away (links fall back to current-<family>) and check the cache directory',
      );
    }
    out[family] = link as string;
  }
  return out;
}

// As state.ts checks a family read back from state.json.
const FAMILY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function rememberedProblem(family: string, link: unknown): string | undefined {
  if (family !== '' && !FAMILY.test(family)) return `names family ${JSON.stringify(family)}: expected letters, digits, ".", "_" or "-" (max 64)`;
  if (typeof link !== 'string') return `gives family ${JSON.stringify(family)} a link that is not a string`;
  const problem = linkNameProblem(link);
  return problem ? `gives family ${JSON.stringify(family)} the link ${JSON.stringify(link)}, which ${problem}` : undefined;
}

function linksFile(cacheDir: string): string {
  return path.join(cachePaths(cacheDir).stateDir, FILE);
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
      throw new IngotError(
        ErrorCode.cacheConflict,
        `link ${link} already belongs to ${other === '' ? 'the images without a family' : `family "${other}"`} in this cache`,
        {
          hint: 'choose another --link, or use a separate cache directory (--to)',
          exitCode: ExitCode.usage,
        },
      );
    }
  }
  if (link === current) return { link, remember: async () => undefined };
  const next = { ...names, [family]: link };
  return {
    link,
    previous: current,
    remember: async () => {
      await requireRegularOrAbsent(linksFile(cacheDir));
      await writeFileAtomic(linksFile(cacheDir), `${JSON.stringify({ schemaVersion: 1, families: next }, null, 2)}\n`);
    },
  };
}
