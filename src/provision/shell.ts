/** POSIX shell quoting for scripts ingot generates (user-data blocks, dry-run output). */

/** One argument quoted for sh: bare when safe, else in single quotes. */
export function shq(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** An argv as one copy-pasteable shell line. */
export function shellLine(argv: readonly string[]): string {
  return argv.map(shq).join(' ');
}

/** The strict-mode header every generated multi-line block starts with. */
export const STRICT = 'set -euo pipefail';
