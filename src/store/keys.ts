/**
 * Safe relative paths. Destination paths from a manifest become store keys and
 * file names; these checks make sure they can never escape the store.
 */
export type SafePath = string & { readonly __brand: 'SafePath' };

/** Why `value` is not a safe relative path, or undefined when it is. */
export function relativePathProblem(value: string): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (value.includes('\0')) return 'must not contain NUL bytes';
  if (value.includes('\\')) return 'must use "/" separators, not backslashes';
  if (value.startsWith('/') || /^[A-Za-z]:/.test(value)) return 'must be relative, not absolute';
  const segments = value.split('/');
  if (segments.some((s) => s === '..')) return 'must not contain ".." segments';
  if (segments.some((s) => s === '.')) return 'must be normalised (no "." segments)';
  if (segments.some((s) => s === '')) return 'must not contain empty segments ("//" or a trailing "/")';
  if (segments.some((s) => s.startsWith('.ingot-'))) return 'must not use the reserved ".ingot-" name prefix';
  return undefined;
}

export function isSafePath(value: string): value is SafePath {
  return relativePathProblem(value) === undefined;
}

/** Asserts a key is safe; used by backends as a last line of defence. */
export function assertSafeKey(key: string): asserts key is SafePath {
  const problem = relativePathProblem(key);
  if (problem) throw new Error(`unsafe store key "${key}": ${problem}`);
}

/** A destinationPrefix as written → "" or "dir/" (no leading slash, one trailing slash). */
export function normalisePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? '' : `${trimmed}/`;
}

/** Joins key parts with "/", collapsing duplicate separators at the seams. */
export function joinKey(...parts: string[]): string {
  // The common case (sync plans it once per image): no part has a slash at a seam.
  if (parts.every((p, i) => p.length > 0 && p.charCodeAt(p.length - 1) !== 47 && (i === 0 || p.charCodeAt(0) !== 47))) return parts.join('/');
  return parts
    .filter((p) => p.length > 0)
    .map((p, i) => (i === 0 ? p.replace(/\/+$/, '') : p.replace(/^\/+|\/+$/g, '')))
    .join('/');
}
