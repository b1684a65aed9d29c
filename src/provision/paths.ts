/** Where shipped profiles live, for a checkout (tsx) and for the built package. */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** `profiles/` in the current directory if it has one, else the shipped profiles. */
export function defaultProfilesDir(cwd: string): string {
  const local = path.join(cwd, 'profiles');
  if (existsSync(path.join(local, 'base.yaml'))) return local;
  return shippedProfilesDir() ?? local;
}

/** The package's own profiles/ directory (walks up from this module). */
export function shippedProfilesDir(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'profiles');
    if (existsSync(path.join(candidate, 'base.yaml'))) return candidate;
    dir = path.dirname(dir);
  }
  return undefined;
}
