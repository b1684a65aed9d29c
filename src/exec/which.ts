/** Finds executables on PATH without a shell. */
import { accessSync, constants } from 'node:fs';
import * as path from 'node:path';

const cache = new Map<string, string | undefined>();

/** Absolute path of `name` on PATH, or undefined. Cached per process. */
export function which(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const key = `${name}\0${env.PATH ?? ''}`;
  if (cache.has(key)) return cache.get(key);
  let found: string | undefined;
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      found = candidate;
      break;
    } catch {
      // not here
    }
  }
  cache.set(key, found);
  return found;
}
