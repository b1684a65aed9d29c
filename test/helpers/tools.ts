/**
 * Real tools in tests. A test whose tool is missing skips on a developer's
 * laptop, but under INGOT_REQUIRE_TOOLS=1 (set by .ci/run) it fails instead.
 */
import type { TestContext } from 'node:test';
import { which } from '../../src/exec/which.js';

export const requireTools = process.env.INGOT_REQUIRE_TOOLS === '1';

/**
 * Returns the tool's path, or undefined after marking the test skipped.
 * Throws when INGOT_REQUIRE_TOOLS=1 and the tool is missing.
 */
export function needTool(t: TestContext, name: string, pkg = name): string | undefined {
  const found = which(name);
  if (found) return found;
  if (requireTools) throw new Error(`required tool "${name}" is missing (apt-get install ${pkg}); INGOT_REQUIRE_TOOLS=1`);
  t.skip(`${name} not installed (apt-get install ${pkg})`);
  return undefined;
}
