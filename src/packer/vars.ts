/** `--var name=value` flags for `ingot packer validate|build`, and which of them are sensitive. */
import { UsageError } from '../errors.js';

/** Variable names treated as sensitive even when not listed (same idea as the logger's field redaction). */
export const SECRET_NAME = /secret|password|passphrase|token|credential|access.?key|private.?key|api.?key/i;

/** Parses `name=value` items; the value may contain "=". */
export function parseVarFlags(items: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    const name = eq > 0 ? item.slice(0, eq) : '';
    if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name)) {
      throw new UsageError(`--var expects name=value, got "${eq > 0 ? `${name}=…` : item.slice(0, 40)}"`, { hint: 'for example --var region=eu-west-1' });
    }
    out[name] = item.slice(eq + 1);
  }
  return out;
}

/** Names given with --sensitive plus names that look secret. */
export function sensitiveVarNames(variables: Readonly<Record<string, string>>, listed: readonly string[]): Set<string> {
  const names = new Set(listed);
  for (const name of Object.keys(variables)) if (SECRET_NAME.test(name)) names.add(name);
  return names;
}

/** Splits repeated and comma-separated `--only` values. */
export function splitList(items: readonly string[]): string[] {
  return items
    .flatMap((i) => i.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
}

/** What packer does when a build fails; "ask" needs a terminal and is not offered. */
export const ON_ERROR = ['cleanup', 'abort', 'run-cleanup-provisioner'] as const;
export type OnError = (typeof ON_ERROR)[number];
