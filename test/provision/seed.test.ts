import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { run } from '../../src/exec/run.js';
import { buildSeed, instanceId, metaDataFor } from '../../src/provision/seed.js';
import { needTool } from '../helpers/tools.js';

const userData = '#cloud-config\nruncmd:\n  - set -e\n  - [touch, /run/seeded]\n';
const networkConfig = 'version: 2\nethernets:\n  eth0:\n    dhcp4: true\n';

describe('NoCloud seed', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ingot-seed-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('label cidata, Joliet + Rock Ridge, files intact', async (t) => {
    if (!needTool(t, 'xorriso') || !needTool(t, 'isoinfo', 'genisoimage')) return;
    const iso = path.join(dir, 'seed.iso');
    const result = await buildSeed({ userData, networkConfig }, iso);
    const info = (await run('isoinfo', ['-d', '-i', iso])).stdout;
    assert.match(info, /^Volume id: cidata$/m);
    assert.match(info, /Joliet/);
    assert.match(info, /Rock Ridge/);
    const listing = (await run('xorriso', ['-indev', iso, '-ls', '/'])).stdout;
    for (const name of ['meta-data', 'user-data', 'network-config']) assert.match(listing, new RegExp(`'${name}'`));
    const out = path.join(dir, 'extracted');
    await run('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/', out]);
    assert.equal(await readFile(path.join(out, 'user-data'), 'utf8'), userData);
    assert.equal(await readFile(path.join(out, 'network-config'), 'utf8'), networkConfig);
    assert.equal(await readFile(path.join(out, 'meta-data'), 'utf8'), `instance-id: ${result.instanceId}\n`);
    assert.match(result.instanceId, /^iid-[0-9a-f]{16}$/);
  });

  test('identical inputs give a byte-identical ISO; other inputs do not', async (t) => {
    if (!needTool(t, 'xorriso')) return;
    const a = path.join(dir, 'a.iso');
    const b = path.join(dir, 'b.iso');
    const c = path.join(dir, 'c.iso');
    const first = await buildSeed({ userData }, a);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // a different second on the clock
    const second = await buildSeed({ userData }, b);
    assert.equal(first.sha256, second.sha256);
    assert.deepEqual(await readFile(a), await readFile(b));
    const third = await buildSeed({ userData: `${userData}# changed\n` }, c);
    assert.notEqual(third.sha256, first.sha256);
    assert.notEqual(third.instanceId, first.instanceId);
  });

  test('meta-data: kept when it has an instance-id, completed when not', () => {
    assert.equal(metaDataFor({ userData, metaData: 'instance-id: mine\nlocal-hostname: h\n' }), 'instance-id: mine\nlocal-hostname: h\n');
    assert.equal(metaDataFor({ userData, metaData: 'local-hostname: h\n' }), `instance-id: ${instanceId({ userData })}\nlocal-hostname: h\n`);
    assert.throws(() => metaDataFor({ userData, metaData: '- a list\n' }), /must be a YAML mapping/);
  });
});
