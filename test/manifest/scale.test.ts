// Issue 17 (9): validate at scale — thousands of problems are found in one linear pass and the printed
// report is capped ("… and N more"); --json still lists every problem. Timing lives in bench/validate.bench.ts.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkManifest } from '../../src/manifest/load.js';
import { REPORT_LIMIT, renderProblems, sourceLines } from '../../src/manifest/problems.js';
import { runCli, tempDir } from '../helpers/fixtures.js';

const HEX = 'a'.repeat(64);

/** `count` images that all share one name and one destination: 2 × (count − 1) problems. */
function sameNameManifest(count: number): string {
  const images = Array.from(
    { length: count },
    () => `    - name: same\n      source: { type: https, url: "https://example.org/x.raw", checksum: "sha256:${HEX}" }\n      destination: { path: same.raw }`,
  );
  return `apiVersion: ingot/v1alpha1\nkind: ImageManifest\nmetadata: { name: t }\nspec:\n  images:\n${images.join('\n')}\n`;
}

describe('validate at scale', () => {
  it('regression: 5,000 images with one name finish, report every problem in --json and cap the printed report', async () => {
    const dir = tempDir('ingot-scale-');
    writeFileSync(join(dir, 'images.yaml'), sameNameManifest(5000));
    const text = await runCli(['validate'], { cwd: dir });
    assert.equal(text.code, 2);
    const rendered = text.stdout.split('\n').filter((l) => /^images\.yaml:\d+:\d+: error:/.test(l));
    assert.equal(rendered.length, REPORT_LIMIT);
    assert.match(text.stdout, new RegExp(`… and ${9998 - REPORT_LIMIT} more problems`));
    assert.match(text.stdout, /images\.yaml: 9998 problems/);
    const json = await runCli(['validate', '--json'], { cwd: dir });
    assert.equal(JSON.parse(json.stdout).problems.length, 9998);
    // A command that needs a valid manifest shows a short report, not ten thousand carets.
    const sync = await runCli(['sync', '--dry-run'], { cwd: dir });
    assert.equal(sync.code, 2);
    assert.ok(sync.stderr.split('\n').length < 200, `${sync.stderr.split('\n').length} lines`);
    assert.match(sync.stderr, /… and 9978 more problems/);
  });

  it('the text is split into lines once for all problems, not once per problem', () => {
    const text = sameNameManifest(300);
    const result = checkManifest(text, '/tmp/images.yaml');
    assert.equal(result.problems.length, 598);
    const first = sourceLines(text);
    const lines = renderProblems(result.problems, text, Infinity);
    assert.equal(lines.length, 598);
    assert.equal(sourceLines(text), first, 'the same split is reused');
    assert.match(lines[0]!, /\n {2}\s*- name: same\n\s*\^/);
  });
});
