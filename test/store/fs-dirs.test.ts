// The directory store removes directories a delete leaves empty; a write racing with that delete in the same
// directory (two images published side by side, one dropping its old metadata) must still land.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, it } from 'node:test';
import { FsBackend, IN_DIR_ATTEMPTS, inDir } from '../../src/store/fs-backend.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
});

it('put, upload and resumable uploads land while deletes keep removing their directory', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ingot-fsdirs-'));
  dirs.push(dir);
  const backend = new FsBackend(dir);
  const failures: string[] = [];
  const note = (what: string) => (error: unknown) => {
    failures.push(`${what}: ${(error as Error).message}`);
  };
  for (let round = 0; round < 600; round++) {
    const sub = `metadata/set-${round % 2}`;
    const writes = [
      backend.put(`${sub}/a-${round}.json`, '{}').catch(note('put')),
      backend
        .upload(`${sub}/b-${round}.raw`)
        .then(async (upload) => {
          upload.writable.end('bytes');
          await new Promise((resolve) => upload.writable.once('finish', resolve));
          await upload.commit();
        })
        .catch(note('upload')),
      backend.resumableUpload!(`${sub}/c-${round}.raw`, `id${round}`)
        .then((upload) => upload.abort())
        .catch(note('resumable upload')),
    ];
    // Deletes of a file that is not there, a turn of the event loop apart: each tries to remove the
    // directory while the writes above are between making it and creating their file.
    const deletes: Promise<void>[] = [];
    for (let k = 0; k < 3; k++) {
      await new Promise((resolve) => setImmediate(resolve));
      deletes.push(backend.delete([`${sub}/gone.json`]));
    }
    await Promise.all([...writes, ...deletes]);
  }
  assert.deepEqual(failures, []);
  for (let round = 0; round < 600; round++) {
    assert.ok(existsSync(path.join(dir, `metadata/set-${round % 2}`, `a-${round}.json`)), `round ${round}: put landed`);
    assert.ok(existsSync(path.join(dir, `metadata/set-${round % 2}`, `b-${round}.raw`)), `round ${round}: upload landed`);
  }
});

it('inDir makes the directory again when it vanished, and passes on other errors', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ingot-fsdirs-'));
  dirs.push(dir);
  const target = path.join(dir, 'x', 'y');
  let calls = 0;
  const made = await inDir(target, async () => {
    calls++;
    // The first time, a "concurrent delete" removes the directory just made.
    if (calls === 1) {
      await fs.rmdir(target);
      await fs.writeFile(path.join(target, 'f'), '');
    }
    await fs.writeFile(path.join(target, 'f'), 'ok');
    return 'done';
  });
  assert.equal(made, 'done');
  assert.equal(calls, 2);
  assert.equal(await fs.readFile(path.join(target, 'f'), 'utf8'), 'ok');
  // Other errors are not retried; an ENOENT that keeps coming gives up after IN_DIR_ATTEMPTS.
  let tries = 0;
  await assert.rejects(
    inDir(target, async () => {
      tries++;
      await fs.writeFile(path.join(target, 'f'), 'again', { flag: 'wx' });
    }),
    { code: 'EEXIST' },
  );
  assert.equal(tries, 1);
  tries = 0;
  await assert.rejects(
    inDir(target, async () => {
      tries++;
      await fs.readFile(path.join(target, 'missing'));
    }),
    { code: 'ENOENT' },
  );
  assert.equal(tries, IN_DIR_ATTEMPTS);
});
