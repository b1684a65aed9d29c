// What mirror, serve and catalogue refuse before doing anything: a source that is not there, an empty source with --delete.
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli } from '../helpers/fixtures.js';
import { catalogueStore } from '../serve/fixtures.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const fn of cleanups) await fn();
});

describe('guards', () => {
  it('a directory store that does not exist is a usage error, not an empty store', async () => {
    for (const args of [
      ['mirror', '--from', '/nonexistent/images', '--to', '/tmp/never-written'],
      ['catalogue', '--store', '/nonexistent/images', '--out', '/tmp/never-written'],
      ['serve', '--store', '/nonexistent/images', '--listen', '127.0.0.1:0'],
    ]) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /store directory not found: \/nonexistent\/images/);
    }
    await assert.rejects(fs.stat('/tmp/never-written'));
  });

  it('refuses --delete from an empty source (it would empty the destination), and deletes nothing', async () => {
    const fx = await catalogueStore({ after: (fn) => void cleanups.push(fn) });
    const empty = path.join(fx.dir, 'empty');
    await fs.mkdir(empty);
    const r = await runCli(['mirror', '--from', empty, '--to', path.join(fx.dir, 'store'), '--delete']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /is empty: refusing --delete/);
    assert.ok((await fs.stat(path.join(fx.dir, 'store', 'index.json'))).isFile());
    // Without --delete an empty source is simply nothing to copy.
    const plain = await runCli(['mirror', '--from', empty, '--to', path.join(fx.dir, 'store')]);
    assert.equal(plain.code, 0, plain.stderr);
  });
});
