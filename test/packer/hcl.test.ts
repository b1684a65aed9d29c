/** The HCL2 writer: escaping round-trips through the real packer, layout passes `packer fmt -check`. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { run } from '../../src/exec/run.js';
import { call, escapeString, interp, ref, toHcl, type HclItem } from '../../src/packer/hcl.js';
import { needTool } from '../helpers/tools.js';

const TRICKY = [
  'interpolation ${var.x} and directive %{ if true }',
  'already doubled $${x} %%{y}',
  'quotes "double" \'single\' and back\\slash \\n (not a newline)',
  'real newline\nand\r\ncarriage, tab\there',
  'control \u0001\u001f\u007f and unicode é ✓ 𝄞',
  'lonely $ and % and { braces }',
  '',
];

describe('HCL writer', () => {
  it('escapes ${, %{, quotes, backslashes and control characters', () => {
    assert.equal(escapeString('a${b}'), 'a$${b}');
    assert.equal(escapeString('a%{b}'), 'a%%{b}');
    assert.equal(escapeString('$x %y {z}'), '$x %y {z}', 'only the two-character openers are special');
    assert.equal(escapeString('"\\'), '\\"\\\\');
    assert.equal(escapeString('\n\r\t\u0001'), '\\n\\r\\t\\u0001');
    assert.equal(interp('id-', ref('var.name'), '-${literal}').text, '"id-${var.name}-$${literal}"');
    assert.equal(call('max', ref('var.size'), 50).text, 'max(var.size, 50)');
  });

  it('refuses names and references that are not plain HCL identifiers', () => {
    assert.throws(() => ref('var.x; rm -rf /'));
    assert.throws(() => toHcl([{ attr: 'bad name', value: 1 }]));
    assert.throws(() => toHcl([{ block: 'a"b', body: [] }]));
    assert.throws(() => toHcl([{ attr: 'n', value: Number.NaN }]));
  });

  it('sorts object keys, quotes non-identifier keys and is deterministic', () => {
    const items: HclItem[] = [{ attr: 'tags', value: { zeta: '1', 'with space': '2', alpha: '3', 'a.b': '4' } }];
    const text = toHcl(items);
    assert.equal(text, toHcl(items));
    const keys = [...text.matchAll(/^\s+("?[^=]+?"?)\s+=/gm)].map((m) => m[1]);
    assert.deepEqual(keys, ['"a.b"', 'alpha', '"with space"', 'zeta']);
  });

  it('every tricky string survives a round trip through packer', async (t) => {
    if (!needTool(t, 'packer')) return;
    const dir = mkdtempSync(join(tmpdir(), 'ingot-hcl-'));
    const items: HclItem[] = [
      ...TRICKY.map(
        (value, i): HclItem => ({
          block: 'variable',
          labels: [`s${i}`],
          body: [
            { attr: 'type', value: ref('string') },
            { attr: 'default', value },
          ],
        }),
      ),
      {
        block: 'variable',
        labels: ['m'],
        body: [
          { attr: 'type', value: call('map', ref('string')) },
          { attr: 'default', value: Object.fromEntries(TRICKY.map((v, i) => [`k ${i} \${x}`, v])) },
        ],
      },
      { block: 'source', labels: ['null', 'main'], body: [{ attr: 'communicator', value: 'none' }] },
      { block: 'build', body: [{ attr: 'sources', value: ['source.null.main'] }] },
    ];
    writeFileSync(join(dir, 'x.pkr.hcl'), toHcl(items));
    // packer console evaluates an expression against the template; jsonencode gives the exact strings back.
    const expr = `jsonencode([${TRICKY.map((_, i) => `var.s${i}`).join(', ')}, var.m])`;
    const result = await run('packer', ['console', '.'], { cwd: dir, input: `${expr}\n`, extraEnv: { CHECKPOINT_DISABLE: '1' }, timeoutMs: 60_000 });
    const values = JSON.parse(result.stdout.trim()) as unknown[];
    assert.deepEqual(values.slice(0, TRICKY.length), TRICKY);
    assert.deepEqual(values.at(-1), Object.fromEntries(TRICKY.map((v, i) => [`k ${i} \${x}`, v])));
    const fmt = await run('packer', ['fmt', '-check', '.'], { cwd: dir, reject: false, extraEnv: { CHECKPOINT_DISABLE: '1' } });
    assert.equal(fmt.exitCode, 0, `packer fmt would change: ${fmt.stdout}`);
  });
});
