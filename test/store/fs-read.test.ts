// The directory store's reading side: no symbolic link is followed out of the store, and interrupted writes resume.
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import { ErrorCode, IngotError } from '../../src/errors.js';
import { FsBackend } from '../../src/store/fs-backend.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
});
async function store(): Promise<{ dir: string; backend: FsBackend }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ingot-fsread-'));
  dirs.push(dir);
  await fs.mkdir(path.join(dir, 'store', 'images'), { recursive: true });
  await fs.writeFile(path.join(dir, 'secret'), 'secret\n');
  return { dir, backend: new FsBackend(path.join(dir, 'store')) };
}
const escapes = (e: unknown) => e instanceof IngotError && e.code === ErrorCode.storeIo && /leads out of the store/.test(e.message);
async function text(stream: Readable): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += String(chunk);
  return out;
}

describe('directory store: links', () => {
  it('refuses a file link and a directory link that lead out of the store, on every read path', async () => {
    const { dir, backend } = await store();
    await fs.symlink(path.join(dir, 'secret'), path.join(dir, 'store', 'images', 'file-link'));
    await fs.symlink(dir, path.join(dir, 'store', 'images', 'dir-link'));
    for (const key of ['images/file-link', 'images/dir-link/secret']) {
      await assert.rejects(backend.get(key), escapes, key);
      await assert.rejects(backend.read(key), escapes, key);
      await assert.rejects(backend.stat(key), escapes, key);
      await assert.rejects(backend.readRange(key, { start: 0 }), escapes, key);
    }
    const listed: string[] = [];
    for await (const info of backend.list('')) listed.push(info.key);
    assert.deepEqual(listed, []);
    const through: string[] = [];
    for await (const info of backend.list('images/dir-link/')) through.push(info.key);
    assert.deepEqual(through, []);
  });

  it('follows a link that stays inside the store, and lists through a loop without hanging', async () => {
    const { dir, backend } = await store();
    await fs.writeFile(path.join(dir, 'store', 'images', 'real.raw'), 'bytes');
    await fs.symlink('real.raw', path.join(dir, 'store', 'images', 'alias.raw'));
    await fs.symlink('.', path.join(dir, 'store', 'images', 'loop'));
    assert.equal((await backend.get('images/alias.raw'))?.toString(), 'bytes');
    assert.equal(await text(await backend.read('images/alias.raw')), 'bytes');
    const listed: string[] = [];
    for await (const info of backend.list('')) listed.push(info.key);
    assert.deepEqual(listed, ['images/real.raw']);
  });
});

describe('directory store: resumable writes', () => {
  it('keeps the bytes of a suspended write, resumes after them, and commits atomically', async () => {
    const { dir, backend } = await store();
    const first = await backend.resumableUpload('images/big.raw', 'v1');
    assert.equal(first.offset, 0);
    await pipeline(Readable.from([Buffer.from('hello ')]), first.writable);
    await first.suspend();
    assert.equal(await backend.stat('images/big.raw'), undefined, 'invisible while partial');
    const second = await backend.resumableUpload('images/big.raw', 'v1');
    assert.equal(second.offset, 6);
    assert.equal(await text(await second.existing()), 'hello ');
    await pipeline(Readable.from([Buffer.from('world')]), second.writable);
    await second.commit();
    assert.equal((await backend.get('images/big.raw'))?.toString(), 'hello world');
    assert.deepEqual((await fs.readdir(path.join(dir, 'store', 'images'))).sort(), ['big.raw'], 'no partial left');
  });

  it('starts afresh for another id, and abort discards the kept bytes', async () => {
    const { dir, backend } = await store();
    const a = await backend.resumableUpload('images/x.raw', 'aaa');
    await pipeline(Readable.from([Buffer.from('old version')]), a.writable);
    await a.suspend();
    const b = await backend.resumableUpload('images/x.raw', 'bbb');
    assert.equal(b.offset, 0, 'bytes of another version are never continued');
    await b.abort();
    const again = await backend.resumableUpload('images/x.raw', 'aaa');
    assert.equal(again.offset, 11);
    await again.abort();
    assert.deepEqual(await fs.readdir(path.join(dir, 'store', 'images')), []);
    await assert.rejects(backend.resumableUpload('images/x.raw', '../evil'), /bad resumable upload id/);
  });
});
