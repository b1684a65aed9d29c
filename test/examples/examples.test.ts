/**
 * Runs every examples/<name>/run.sh (found, not listed: a new example folder
 * is picked up by itself). Each must exit 0; exit 77 means "a tool it needs
 * is missing" — a skip, or a failure under INGOT_REQUIRE_TOOLS=1. Also: each
 * example has a README.md, and the tour script runs exactly the README's tour.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { requireTools } from '../helpers/tools.js';

const root = new URL('../../', import.meta.url).pathname;
const examplesDir = join(root, 'examples');
const examples = readdirSync(examplesDir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(examplesDir, d.name, 'run.sh')))
  .map((d) => d.name)
  .sort();

const SKIP = 77;

/**
 * Per-example environment. homelab bakes for real only in
 * test/bake/bake-vm.test.ts (same test image, same cache): a second bake
 * here would add minutes of software emulation for nothing new.
 */
const EXAMPLE_ENV: Record<string, Record<string, string>> = { homelab: { SKIP_BOOT: '1' } };

/** Runs a script with bash; resolves with its exit code and the tail of its output. */
function runScript(script: string, env: Record<string, string> = {}): Promise<{ code: number | null; tail: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, tail: output.split('\n').slice(-60).join('\n') }));
  });
}

/** The lines between the tour markers of a script, or the README's tour code block. */
function tourOf(text: string, start: RegExp, end: RegExp): string[] {
  const lines = text.split('\n');
  const from = lines.findIndex((l) => start.test(l));
  assert.ok(from >= 0, `no line matching ${start}`);
  const to = lines.findIndex((l, i) => i > from && end.test(l));
  assert.ok(to > from, `no line matching ${end} after ${start}`);
  return lines.slice(from + 1, to).map((l) => l.trimEnd());
}

describe('examples', () => {
  it('finds the examples, each with a README.md and an executable run.sh', () => {
    assert.ok(examples.length >= 3, `examples found: ${examples.join(', ')}`);
    for (const name of examples) {
      assert.ok(existsSync(join(examplesDir, name, 'README.md')), `examples/${name}/README.md`);
      accessSync(join(examplesDir, name, 'run.sh'), constants.X_OK);
    }
  });

  it("the tour script runs the README's five-minute tour, command for command", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## A five-minute tour'));
    const fromReadme = tourOf(section, /^```sh$/, /^```$/);
    const fromScript = tourOf(readFileSync(join(examplesDir, 'tour', 'run.sh'), 'utf8'), /^# --- tour: README\.md/, /^# --- end of tour ---$/);
    assert.deepEqual(fromScript, fromReadme, "examples/tour/run.sh must run exactly the commands of README.md's tour: copy the block over");
  });

  for (const name of examples) {
    it(`examples/${name}/run.sh`, { timeout: 20 * 60_000 }, async (t) => {
      const { code, tail } = await runScript(join(examplesDir, name, 'run.sh'), EXAMPLE_ENV[name]);
      if (code === SKIP) {
        const why =
          tail
            .split('\n')
            .filter((l) => l.startsWith('SKIP:'))
            .pop() ?? 'a tool is missing';
        if (requireTools) assert.fail(`examples/${name}/run.sh skipped under INGOT_REQUIRE_TOOLS=1: ${why}`);
        t.skip(why);
        return;
      }
      assert.equal(code, 0, `examples/${name}/run.sh exited ${code}; the end of its output:\n${tail}`);
    });
  }
});
