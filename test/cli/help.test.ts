/** `ingot --version`, `ingot help COMMAND`, group help, and the version lookup. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { packageVersion } from '../../src/cli/version.js';
import { runCli } from '../helpers/fixtures.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

describe('ingot --version and ingot help', () => {
  it('--version and -V print the version in package.json', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await runCli([flag]);
      assert.equal(r.code, 0);
      assert.equal(r.stdout, `${pkg.version}\n`);
    }
  });

  it('finds the nearest package.json named ingot, and says so when there is none', () => {
    const root = mkdtempSync(join(tmpdir(), 'ingot-version-'));
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'ingot', version: '9.8.7' }));
    mkdirSync(join(root, 'dist', 'src', 'cli'), { recursive: true });
    // A package.json of another package in between (as in a workspace) is skipped.
    writeFileSync(join(root, 'dist', 'package.json'), JSON.stringify({ name: 'other', version: '1.0.0' }));
    assert.equal(packageVersion(join(root, 'dist', 'src', 'cli', 'version.js')), '9.8.7');
    const orphan = mkdtempSync(join(tmpdir(), 'ingot-version-'));
    assert.throws(
      () => packageVersion(join(orphan, 'version.js')),
      (e: Error & { code?: string }) => e.code === 'INGOT_INTERNAL',
    );
  });

  it('help COMMAND prints exactly what COMMAND --help prints, also for two-word commands', async () => {
    for (const words of [['sync'], ['cache', 'list'], ['packer', 'init']]) {
      const viaHelp = await runCli(['help', ...words]);
      const viaFlag = await runCli([...words, '--help']);
      assert.equal(viaHelp.code, 0, viaHelp.stderr);
      assert.equal(viaHelp.stdout, viaFlag.stdout);
      assert.match(viaHelp.stdout, new RegExp(`^Usage: ingot ${words.join(' ')}`));
    }
  });

  it('help with --json describes the command as data', async () => {
    const r = await runCli(['help', 'cache', 'list', '--json']);
    assert.equal(r.code, 0);
    const data = JSON.parse(r.stdout);
    assert.equal(data.name, 'cache list');
    assert.equal(data.options.cache.valueName, 'DIR');
    assert.equal(data.run, undefined);
  });

  it('a group lists its sub-commands: "help cache" and "cache --help" exit 0, "cache" alone exits 2', async () => {
    for (const argv of [
      ['help', 'cache'],
      ['cache', '--help'],
    ]) {
      const r = await runCli(argv);
      assert.equal(r.code, 0, argv.join(' '));
      assert.match(r.stdout, /^Usage: ingot cache <command>/);
      for (const sub of ['cache list', 'cache use', 'cache rollback']) assert.match(r.stdout, new RegExp(`^  ${sub} `, 'm'));
    }
    const bare = await runCli(['cache']);
    assert.equal(bare.code, 2);
    assert.match(bare.stdout, /cache rollback/);
  });

  it('unknown commands are usage errors with a suggestion', async () => {
    const help = await runCli(['help', 'cach']);
    assert.equal(help.code, 2);
    assert.match(help.stderr, /unknown command "cach"; did you mean "cache"\?/);
    const sub = await runCli(['cache', 'lst']);
    assert.equal(sub.code, 2);
    assert.match(sub.stderr, /unknown command "cache lst"; did you mean "cache list"\?/);
  });

  it('--help groups the commands by area and mentions help and --version', async () => {
    const r = await runCli(['help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Hosts: pull and cache:\n {2}pull /m);
    assert.match(r.stdout, /ingot help COMMAND/);
    assert.match(r.stdout, /ingot --version/);
  });
});
