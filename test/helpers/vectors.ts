/**
 * Third-party conformance vectors (<set>/vectors.json and the files it
 * names): read at test time, not copied into this repository — their
 * PROVENANCE.md records no licences, and some upstream repositories have
 * none that allows redistribution. Where they live: INGOT_CONFORMANCE_DIR,
 * else ../shared/conformance beside the checkout, else
 * /work/shared/conformance. A test whose set is missing skips, but fails under
 * INGOT_REQUIRE_TOOLS=1 like a missing tool (CI must point
 * INGOT_CONFORMANCE_DIR at a copy).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { requireTools } from './tools.js';

const candidates = [fileURLToPath(new URL('../../../shared/conformance', import.meta.url)), '/work/shared/conformance'];

/** The root holding the vector sets: INGOT_CONFORMANCE_DIR as given, else the first candidate that exists. */
export const conformanceRoot = process.env.INGOT_CONFORMANCE_DIR || (candidates.find((dir) => existsSync(dir)) ?? candidates[0]!);

/** The directory of one vector set (with its vectors.json), or undefined after marking the test skipped. */
export function needVectors(t: TestContext, set: string): string | undefined {
  const dir = path.join(conformanceRoot, set);
  if (existsSync(path.join(dir, 'vectors.json'))) return dir;
  if (requireTools) throw new Error(`conformance vectors ${dir} are missing (set INGOT_CONFORMANCE_DIR); INGOT_REQUIRE_TOOLS=1`);
  t.skip(`conformance vectors not found at ${dir} (set INGOT_CONFORMANCE_DIR)`);
  return undefined;
}

/** The parsed vectors.json of a set, or undefined when the set is missing (without skipping). */
export async function loadVectors<T>(set: string): Promise<{ dir: string; vectors: T } | undefined> {
  const dir = path.join(conformanceRoot, set);
  const text = await readFile(path.join(dir, 'vectors.json'), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : { dir, vectors: JSON.parse(text) as T };
}
