// `ingot mirror` from an `ingot serve` URL (HTTP store backend: listing through the objects API, ranged reads) into a directory.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli } from '../helpers/fixtures.js';
import { catalogueStore } from '../serve/fixtures.js';
import { startServe } from '../serve/serve-process.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

describe('ingot mirror from a serve URL', () => {
  it('copies a served store into a directory, verified against the signed index', async () => {
    const fx = await catalogueStore({ after: (fn) => void cleanups.push(fn) });
    const root = path.join(fx.dir, 'store');
    const serve = await startServe(['--store', root]);
    cleanups.push(async () => void (await serve.stop()));
    const nas = path.join(fx.dir, 'nas');
    const r = await runCli(['mirror', '--from', serve.url, '--to', nas, '--public-key', fx.publicKeyFile, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).failed, 0);
    for (const key of ['index.json', 'index.json.minisig', 'channels/talos.json', 'boot/lab.json.minisig', ...[...fx.published.values()].map((m) => m.key)]) {
      const [a, b] = await Promise.all([fs.readFile(path.join(root, key)), fs.readFile(path.join(nas, key))]);
      assert.equal(createHash('sha256').update(b).digest('hex'), createHash('sha256').update(a).digest('hex'), key);
    }
    const write = await runCli(['mirror', '--from', nas, '--to', serve.url]);
    assert.equal(write.code, 2, 'an HTTP store cannot be a destination');
    assert.match(write.stderr, /INGOT_STORE_READ_ONLY/);
  });
});
