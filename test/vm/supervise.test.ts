import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IngotError } from '../../src/errors.js';
import { supervise } from '../../src/exec/supervise.js';

describe('supervise (a watched child process)', () => {
  it('hands over output as it arrives and stops the child on request', async () => {
    let seen = '';
    const child = supervise('sh', ['-c', 'echo ready; exec sleep 30'], {
      onOutput: (text) => {
        seen += text;
        if (seen.includes('ready')) void child.stop();
      },
    });
    const exit = await child.exited;
    assert.equal(seen, 'ready\n');
    assert.equal(exit.stopped, true);
    assert.equal(exit.signal, 'SIGTERM');
    assert.ok(exit.durationMs < 5000);
  });

  it('stops a child at its deadline, with SIGKILL when SIGTERM is ignored', async () => {
    const child = supervise('sh', ['-c', 'trap "" TERM; echo started; while :; do sleep 0.1; done'], { timeoutMs: 300, graceMs: 300 });
    const exit = await child.exited;
    assert.equal(exit.timedOut, true);
    assert.equal(exit.signal, 'SIGKILL');
    assert.ok(exit.durationMs < 3000, `took ${exit.durationMs} ms`);
  });

  it('stops on abort and reports it', async () => {
    const controller = new AbortController();
    const child = supervise('sleep', ['30'], { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const exit = await child.exited;
    assert.equal(exit.aborted, true);
    assert.equal(exit.exitCode, null);
  });

  it('refuses a program that is not installed, with INGOT_TOOL_MISSING', () => {
    assert.throws(
      () => supervise('ingot-no-such-tool', []),
      (error: unknown) => error instanceof IngotError && error.code === 'INGOT_TOOL_MISSING',
    );
  });
});
