/**
 * `npm run docs`: writes docs/cli.md from the command registry.
 * `npm run docs -- --check`: exits 1 when docs/cli.md is not what the registry gives.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { loadCommands } from '../src/cli/help.js';
import { cliReference } from '../src/cli/reference.js';

const file = new URL('../docs/cli.md', import.meta.url);
const text = cliReference(await loadCommands());
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(file, 'utf8');
  } catch {}
  if (current !== text) {
    console.error('docs/cli.md is out of date with the command registry: run `npm run docs` and commit docs/cli.md');
    process.exitCode = 1;
  }
} else {
  writeFileSync(file, text);
  console.log(`wrote docs/cli.md (${text.length} bytes)`);
}
