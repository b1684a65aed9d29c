/**
 * Signals when the work cannot be interrupted: `inspect` of a FIFO nobody
 * writes to blocks in open() (a libuv thread no AbortSignal reaches). The
 * first SIGTERM must still end the process — by force, ABORT_GRACE_MS later —
 * and a second signal at once. A file source that is a FIFO is refused
 * before it can block a sync.
 */
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { ABORT_GRACE_MS } from '../../src/cli/main.js';
import { sha256, tempDir, writeManifest } from '../helpers/fixtures.js';
import { runMeasured } from '../helpers/measure.js';
import { needTool } from '../helpers/tools.js';

function fifo(t: import('node:test').TestContext): string | undefined {
  if (!needTool(t, 'mkfifo', 'coreutils')) return undefined;
  const file = join(tempDir(), 'pipe');
  execFileSync('mkfifo', [file]);
  return file;
}

/**
 * Resolves once one of the child's threads is blocked opening the FIFO
 * (`wait_for_partner` in /proc/PID/task/TID/wchan): by then its signal
 * handlers are installed. A fixed delay is not enough on a loaded machine,
 * where node may take longer than that to start, and a SIGTERM sent before
 * ingot's handler exists ends it at once (node's own handler re-raises).
 */
async function whenBlockedInOpen(child: ChildProcess): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    let waits: string[];
    try {
      waits = readdirSync(`/proc/${child.pid}/task`).map((tid) => readFileSync(`/proc/${child.pid}/task/${tid}/wchan`, 'utf8'));
    } catch {
      return; // gone (or a thread ended meanwhile): the assertions say what happened
    }
    if (waits.some((w) => w.includes('wait_for_partner') || w.includes('fifo'))) return;
    await sleep(50);
  }
}

/** Resolves when the child's stderr contains `text`. */
function stderrSays(child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve) => {
    let seen = '';
    child.stderr!.on('data', (d) => {
      seen += d;
      if (seen.includes(text)) resolve();
    });
  });
}

describe('signals when the work itself cannot be interrupted', () => {
  it(`a run still stuck ${ABORT_GRACE_MS / 1000}s after SIGTERM is ended by force, of SIGTERM`, async (t) => {
    const file = fifo(t);
    if (!file) return;
    let sentAt = 0;
    const r = await runMeasured(['inspect', file], {
      onSpawn: (child) => {
        // Once it is blocked in open(), ask it to stop.
        void whenBlockedInOpen(child).then(() => {
          sentAt = Date.now();
          child.kill('SIGTERM');
        });
        // A safety net for the test itself.
        setTimeout(() => child.kill('SIGKILL'), ABORT_GRACE_MS + 30_000).unref();
      },
    });
    const took = Date.now() - sentAt;
    assert.equal(r.signal, 'SIGTERM', `ended by ${r.signal ?? `exit ${r.code}`}: ${r.stderr}`);
    assert.match(r.stderr, /received SIGTERM: stopping/);
    assert.match(r.stderr, new RegExp(`still stopping ${ABORT_GRACE_MS / 1000}s after SIGTERM; exiting now`));
    assert.ok(took >= ABORT_GRACE_MS - 100, `waited the grace period for cleanup (${took} ms)`);
  });

  it('a second signal ends it at once', async (t) => {
    const file = fifo(t);
    if (!file) return;
    let secondAt = 0;
    const r = await runMeasured(['inspect', file], {
      onSpawn: (child) => {
        void whenBlockedInOpen(child).then(() => child.kill('SIGTERM'));
        void stderrSays(child, 'received SIGTERM').then(() => {
          secondAt = Date.now();
          child.kill('SIGINT');
        });
        setTimeout(() => child.kill('SIGKILL'), ABORT_GRACE_MS + 30_000).unref();
      },
    });
    assert.equal(r.signal, 'SIGINT', `ended by ${r.signal ?? `exit ${r.code}`}: ${r.stderr}`);
    assert.ok(secondAt > 0);
    assert.doesNotMatch(r.stderr, /still stopping/, 'ended by the second signal, not by the grace period');
  });

  it('a file source that is a FIFO is refused, not waited on', async (t) => {
    const file = fifo(t);
    if (!file) return;
    const dir = join(file, '..');
    writeManifest(dir, [{ name: 'pipe', source: { type: 'file', path: 'pipe', checksum: sha256('') }, destination: { path: 'pipe.raw' } }]);
    const r = await runMeasured(['sync', '--json'], {
      cwd: dir,
      onSpawn: (child) => setTimeout(() => child.kill('SIGKILL'), 60_000).unref(),
    });
    assert.equal(r.signal, null, 'it did not hang');
    assert.equal(r.code, 1, r.stderr);
    const error = JSON.parse(r.stdout).images[0].error;
    assert.equal(error.code, 'INGOT_SOURCE_NOT_FOUND');
    assert.match(error.message, /source file pipe is not a regular file/);
  });
});
