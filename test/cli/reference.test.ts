/**
 * docs/cli.md is generated from the command registry and must be current;
 * the registry's entries are complete enough to generate it from.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { areaOf, areas } from '../../src/cli/areas.js';
import { loadCommands } from '../../src/cli/help.js';
import { anchorOf, cliReference, descriptionMarkdown, escapeProse } from '../../src/cli/reference.js';
import { commands } from '../../src/cli/registry.js';

const docsFile = new URL('../../docs/cli.md', import.meta.url);

describe('CLI reference (docs/cli.md)', () => {
  it('is current with the command registry', async () => {
    const expected = cliReference(await loadCommands());
    const actual = existsSync(docsFile) ? readFileSync(docsFile, 'utf8') : '';
    if (actual === expected) return;
    const a = actual.split('\n');
    const e = expected.split('\n');
    const line = e.findIndex((l, i) => l !== a[i]);
    assert.fail(
      [
        'docs/cli.md is out of date with the command registry: run `npm run docs` and commit docs/cli.md.',
        `First difference at line ${line + 1}:`,
        `  docs/cli.md: ${JSON.stringify(a[line] ?? '<end of file>')}`,
        `  generated:   ${JSON.stringify(e[line] ?? '<end of file>')}`,
      ].join('\n'),
    );
  });

  it('generates the same bytes every time', async () => {
    assert.equal(cliReference(await loadCommands()), cliReference(await loadCommands()));
  });

  it('has one section and one unique anchor per command, linked from the list', async () => {
    const list = await loadCommands();
    const text = cliReference(list);
    const anchors = list.map((c) => anchorOf(c.name));
    assert.equal(new Set(anchors).size, anchors.length, 'anchors are unique');
    for (const c of list) {
      assert.ok(text.includes(`<a id="${anchorOf(c.name)}"></a>\n\n### ingot ${c.name}\n`), c.name);
      assert.ok(text.includes(`[${c.name}](#${anchorOf(c.name)})`), `${c.name} is in the list of commands`);
      for (const option of Object.keys(c.options)) assert.ok(text.includes(`--${option}`), `${c.name} --${option}`);
    }
  });

  it('every registered command is filled in: name, summary, usage, described options', async () => {
    for (const [name, entry] of Object.entries(commands)) {
      const c = (await entry.load()).command;
      assert.equal(c.name, name, `the registry key "${name}" is the command's name`);
      assert.ok(entry.summary.length > 0 && c.summary.length > 0, `${name}: summary`);
      assert.ok(c.usage.startsWith(name), `${name}: usage starts with the command's name ("${c.usage}")`);
      for (const [option, spec] of Object.entries(c.options)) {
        assert.ok(spec.description.trim().length > 0, `${name} --${option}: description`);
        assert.match(option, /^[a-z0-9][a-z0-9-]*$/, `${name} --${option}: option name`);
      }
    }
  });

  it('groups commands by area, and every area guide exists', () => {
    assert.equal(areaOf('cache list').title, 'Hosts: pull and cache');
    assert.equal(areaOf('sync').title, 'Manifest and sync');
    assert.equal(areaOf('no-such-command').title, 'Other commands');
    for (const area of areas) if (area.page) assert.ok(existsSync(new URL(`../../docs/${area.page}`, import.meta.url)), `docs/${area.page}`);
  });

  it('escapes Markdown in prose but not in code spans', () => {
    assert.equal(escapeProse('initramfs-<name>.img, `a <b> *c*`, *x*'), 'initramfs-\\<name>.img, `a <b> *c*`, \\*x\\*');
    assert.equal(escapeProse('SOURCE_DATE_EPOCH and _x_'), 'SOURCE_DATE_EPOCH and \\_x\\_');
    assert.equal(escapeProse('# not a heading'), '\\# not a heading');
  });

  it('keeps description lines, and turns examples and indented lines into code blocks', () => {
    const md = descriptionMarkdown('First sentence.\nSecond, which wraps\nhere.\nLoad it:\n  source <(x)\nExample: ingot sync --dry-run');
    assert.equal(
      md,
      [
        'First sentence.\\',
        'Second, which wraps',
        'here.\\',
        'Load it:',
        '',
        '```sh',
        'source <(x)',
        '```',
        '',
        'Example:',
        '',
        '```sh',
        'ingot sync --dry-run',
        '```',
      ].join('\n'),
    );
  });
});
