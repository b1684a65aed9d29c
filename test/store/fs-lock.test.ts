/** Regressions from review: the directory store's lock after crashes. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FsBackend } from '../../src/store/fs-backend.js';

const base = { timeoutMs: 5000, ttlMs: 60_000, breakExpired: false } as const;

function deadPid(): number {
  return spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim() as unknown as number;
}

describe('directory store lock', () => {
  it('takes over an empty lock file left by a writer killed between create and write', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ingot-lock-'));
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, '.ingot-lock'), '');
    utimesSync(join(root, '.ingot-lock'), new Date(0), new Date(0));
    const lock = await new FsBackend(root).lock({ ...base, owner: 'next run', timeoutMs: 0 });
    await lock.release();
  });

  it('only one of several waiters takes over a dead holder at a time', async () => {
    for (let trial = 0; trial < 5; trial++) {
      const root = mkdtempSync(join(tmpdir(), 'ingot-lock-'));
      writeFileSync(join(root, '.ingot-lock'), JSON.stringify({ token: 'dead', owner: 'killed', host: hostname(), pid: Number(deadPid()) }));
      let holding = 0;
      let most = 0;
      await Promise.all(
        [1, 2, 3].map(async (n) => {
          const lock = await new FsBackend(root).lock({ ...base, owner: `run ${n}` });
          holding++;
          most = Math.max(most, holding);
          await new Promise((r) => setTimeout(r, 200));
          holding--;
          await lock.release();
        }),
      );
      assert.equal(most, 1, `trial ${trial}: two runs held the lock at once`);
    }
  });
});
