/**
 * The Python interpreter cloud-init runs on (from the `cloud-init` script's
 * shebang), with PyYAML and cloud-init's own modules importable: the oracle
 * for ingot's YAML 1.1 loader and schema checker. Skips (or, under
 * INGOT_REQUIRE_TOOLS=1, fails) when cloud-init is not installed.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { needTool, requireTools } from './tools.js';

export function cloudInitPython(t: TestContext): string | undefined {
  const cloudInit = needTool(t, 'cloud-init');
  if (!cloudInit) return undefined;
  const shebang = /^#!\s*(\S+)/.exec(readFileSync(cloudInit, 'utf8').split('\n', 1)[0] ?? '')?.[1];
  const python = shebang && !shebang.endsWith('/env') ? shebang : 'python3';
  try {
    execFileSync(python, ['-c', 'import yaml, cloudinit.config.schema'], { stdio: 'ignore' });
    return python;
  } catch {
    if (requireTools) throw new Error(`${python} cannot import cloud-init's modules (INGOT_REQUIRE_TOOLS=1)`);
    t.skip(`${python} cannot import cloud-init's modules`);
    return undefined;
  }
}
