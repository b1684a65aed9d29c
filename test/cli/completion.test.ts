/**
 * `ingot completion bash|zsh|fish`, run in the real shells: bash through its
 * completion builtins (complete -p, COMP_WORDS → COMPREPLY, compgen), zsh and
 * fish checked with -n, zsh's completion function run with the completion
 * system's builtins replaced by recorders, fish through `complete -C`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { globalOptions, type OptionSpec } from '../../src/cli/command.js';
import { completionModel, positionalKind, valueKind } from '../../src/cli/completion.js';
import { loadCommands } from '../../src/cli/help.js';
import { runCli } from '../helpers/fixtures.js';
import { needTool } from '../helpers/tools.js';

const scripts: Record<string, string> = {};
let dir = '';
let scriptDir = '';

before(async () => {
  for (const shell of ['bash', 'zsh', 'fish']) {
    const r = await runCli(['completion', shell]);
    assert.equal(r.code, 0, r.stderr);
    scripts[shell] = r.stdout;
  }
  // A directory to complete file names in: two files and a sub-directory.
  dir = mkdtempSync(join(tmpdir(), 'ingot-completion-'));
  writeFileSync(join(dir, 'images.yaml'), '');
  writeFileSync(join(dir, 'ingot.key'), '');
  mkdirSync(join(dir, 'keys'));
  scriptDir = mkdtempSync(join(tmpdir(), 'ingot-completion-scripts-'));
  for (const [shell, text] of Object.entries(scripts)) writeFileSync(join(scriptDir, `ingot.${shell}`), text);
});

/** Completions bash offers for a command line (the last word is the one being completed). */
function bash(line: string[]): string[] {
  const words = line.map((w) => `'${w}'`).join(' ');
  const out = execFileSync(
    'bash',
    ['--norc', '-c', `source ${scriptDir}/ingot.bash; COMP_WORDS=(${words}); COMP_CWORD=${line.length - 1}; _ingot; printf '%s\\n' "\${COMPREPLY[@]}"`],
    { cwd: dir, encoding: 'utf8' },
  );
  return out.split('\n').filter(Boolean).sort();
}

/** Completions zsh's _ingot offers, with compadd/_describe/_files recording what they are given. */
function zsh(line: string[]): string[] {
  const stubs = [
    '_describe() { local a=${@[-1]}; print -rl -- ${${(@P)a}%%:*} }',
    '_files() { if [[ $1 == -/ ]]; then print "<dirs>"; else print "<files>"; fi }',
    'compadd() { shift; print -rl -- "${(@P)1}" }',
    'compset() { : }',
  ].join('\n');
  const words = line.map((w) => `'${w}'`).join(' ');
  const out = execFileSync('zsh', ['-f', '-c', `${stubs}\nsource ${scriptDir}/ingot.zsh\nwords=(${words}); CURRENT=${line.length}; _ingot`], {
    cwd: dir,
    encoding: 'utf8',
  });
  return out
    .split('\n')
    .filter(Boolean)
    .map((w) => w.replace(/\\:/g, ':'))
    .sort();
}

/** Completions fish offers (`complete -C`), candidates only. */
function fish(line: string): string[] {
  const out = execFileSync('fish', ['--no-config', '-c', `source ${scriptDir}/ingot.fish; complete -C ${JSON.stringify(line).replace(/\$/g, '\\$')}`], {
    cwd: dir,
    encoding: 'utf8',
  });
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('\t')[0]!)
    .sort();
}

const sorted = (a: string[]) => [...a].sort();

describe('shell completion', () => {
  it('value and positional kinds come from the option table and the usage line', () => {
    assert.deepEqual(valueKind({ valueName: 'FILE' }), { kind: 'file' });
    assert.deepEqual(valueKind({ valueName: 'DIR' }), { kind: 'dir' });
    assert.deepEqual(valueKind({ valueName: 'text|json' }), { kind: 'words', words: ['text', 'json'] });
    assert.deepEqual(valueKind({ valueName: 'CLOUD', choices: ['aws', 'gcp'] }), { kind: 'words', words: ['aws', 'gcp'] });
    assert.deepEqual(valueKind({ valueName: 'URL' }), { kind: 'none' });
    const cmd = { name: 'x y', options: { out: { type: 'string', valueName: 'DIR', description: 'd' } }, positionals: true } as const;
    assert.deepEqual(positionalKind({ ...cmd, usage: 'x y [--out DIR] FILE…' }), { kind: 'file' });
    assert.deepEqual(positionalKind({ ...cmd, usage: 'x y [DIR] [--out DIR]' }), { kind: 'dir' });
    assert.deepEqual(positionalKind({ ...cmd, usage: 'x y NAME|PATH' }), { kind: 'none' });
    assert.equal(positionalKind({ ...cmd, positionals: false, usage: 'x y' }), undefined);
    assert.throws(() => completionModel([{ name: 'bad;name', summary: '', usage: '', options: {}, run: async () => {} }]), /cannot be completed safely/);
  });

  it('completion with no or an unknown shell is a usage error', async () => {
    assert.equal((await runCli(['completion'])).code, 2);
    const r = await runCli(['completion', 'tcsh']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown shell "tcsh": expected bash, zsh or fish/);
  });

  it('bash: registers _ingot for ingot and completes commands, sub-commands, flags and values', async (t) => {
    if (!needTool(t, 'bash')) return;
    const registered = execFileSync('bash', ['--norc', '-c', `source ${scriptDir}/ingot.bash; complete -p ingot`], { cwd: dir, encoding: 'utf8' });
    assert.equal(registered.trim(), 'complete -F _ingot ingot');
    const list = await loadCommands();
    const model = completionModel(list);
    assert.deepEqual(bash(['ingot', '']), sorted([...model.top.map((c) => c.word), '--help', '--version']));
    assert.deepEqual(bash(['ingot', 'ca']), ['cache', 'catalogue']);
    assert.deepEqual(bash(['ingot', 'cac']), ['cache']);
    assert.deepEqual(bash(['ingot', 'cache', '']), ['--help', 'advertise', 'list', 'record-boot', 'rollback', 'use']);
    // Every command's flags are exactly its options plus the global ones.
    for (const c of list) {
      const expected = sorted(
        Object.entries({ ...c.options, ...globalOptions } as Record<string, OptionSpec>).flatMap(([n, o]) => [`--${n}`, ...(o.short ? [`-${o.short}`] : [])]),
      );
      assert.deepEqual(bash(['ingot', ...c.name.split(' '), '-']), expected, c.name);
    }
    assert.deepEqual(bash(['ingot', 'sync', '--dry', '--sto']), ['--store']);
    assert.deepEqual(bash(['ingot', 'sync', '-m', '']), ['images.yaml', 'ingot.key', 'keys']);
    assert.deepEqual(bash(['ingot', 'sync', '--manifest', '=', 'im']), ['images.yaml']);
    assert.deepEqual(bash(['ingot', 'keys', 'generate', '--out', '']), ['keys']);
    assert.deepEqual(bash(['ingot', 'packer', 'init', '--cloud', '']), ['alibaba', 'aws', 'azure', 'gcp', 'oci']);
    assert.deepEqual(bash(['ingot', 'sync', '--log-format', '']), ['json', 'text']);
    assert.deepEqual(bash(['ingot', 'completion', '']), ['bash', 'fish', 'zsh']);
    assert.deepEqual(bash(['ingot', 'inspect', 'i']), ['images.yaml', 'ingot.key']);
    assert.deepEqual(bash(['ingot', 'sync', '--store', '']), [], 'a URL is not completed with file names');
    assert.deepEqual(bash(['ingot', 'p']), ['packer', 'prune', 'pull']);
  });

  it('zsh: the script parses, and _ingot offers commands, flags, files and directories', (t) => {
    if (!needTool(t, 'zsh')) return;
    execFileSync('zsh', ['-n', join(scriptDir, 'ingot.zsh')], { cwd: dir });
    assert.match(scripts.zsh!, /^#compdef ingot\n/);
    assert.ok(zsh(['ingot', '']).includes('cache'));
    assert.deepEqual(zsh(['ingot', 'cache', '']), ['advertise', 'list', 'record-boot', 'rollback', 'use']);
    assert.deepEqual(zsh(['ingot', 'cache', 'list', '--']), sorted(['--cache', '--json', '--log-format', '--debug', '--quiet', '-q', '--help', '-h']));
    assert.deepEqual(zsh(['ingot', 'sync', '-m', '']), ['<files>']);
    assert.deepEqual(zsh(['ingot', 'packer', 'init', '--out', '']), ['<dirs>']);
    assert.deepEqual(zsh(['ingot', 'packer', 'init', '--cloud', '']), ['alibaba', 'aws', 'azure', 'gcp', 'oci']);
    assert.deepEqual(zsh(['ingot', 'sync', '--log-format=']), ['json', 'text']);
    assert.deepEqual(zsh(['ingot', 'inspect', '']), ['<files>']);
  });

  it('fish: the script parses, and complete -C offers commands, flags, files and directories', (t) => {
    if (!needTool(t, 'fish')) return;
    execFileSync('fish', ['--no-config', '-n', join(scriptDir, 'ingot.fish')], { cwd: dir });
    assert.ok(fish('ingot ').includes('cache'));
    assert.deepEqual(fish('ingot cache '), ['advertise', 'list', 'record-boot', 'rollback', 'use']);
    assert.deepEqual(fish('ingot cache list --'), sorted(['--cache', '--json', '--log-format', '--debug', '--quiet', '--help']));
    assert.deepEqual(fish('ingot sync -m i'), ['images.yaml', 'ingot.key']);
    assert.deepEqual(fish('ingot keys generate --out '), ['keys/']);
    assert.deepEqual(fish('ingot packer init --cloud '), ['alibaba', 'aws', 'azure', 'gcp', 'oci']);
    assert.deepEqual(fish('ingot completion '), ['bash', 'fish', 'zsh']);
    assert.deepEqual(fish('ingot sync --store '), []);
  });
});
