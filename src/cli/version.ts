/**
 * ingot's version, read from its own package.json when asked for (`--version`),
 * found by walking up from this module: dist/src/cli/ in a checkout or an
 * installed package (global installs included: Node runs a bin symlink from
 * its real path), src/cli/ under tsx.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IngotError } from '../errors.js';

export function packageVersion(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  for (;;) {
    const file = join(dir, 'package.json');
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (text !== undefined) {
      const pkg = JSON.parse(text) as { name?: unknown; version?: unknown };
      if (pkg.name === 'ingot' && typeof pkg.version === 'string') return pkg.version;
    }
    const parent = dirname(dir);
    if (parent === dir) {
      throw new IngotError('INGOT_INTERNAL', `cannot find ingot's package.json above ${dirname(from)}`, {
        hint: 'reinstall ingot; its package.json is missing',
      });
    }
    dir = parent;
  }
}
