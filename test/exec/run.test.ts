import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { run } from '../../src/exec/run.js';
import type { IngotError } from '../../src/errors.js';

describe('run()', () => {
  it('passes argv without a shell and scrubs secrets from output', async () => {
    const r = await run('printf', ['%s|%s', 'a b', 'token-1234'], { secrets: ['token-1234'] });
    assert.equal(r.stdout, 'a b|***');
  });

  it('a non-zero exit rejects with the output tail, or resolves with reject: false', async () => {
    await assert.rejects(
      run('sh', ['-c', 'echo broken >&2; exit 3']),
      (e: IngotError) => e.code === 'INGOT_TOOL_FAILED' && /exit code 3:\nbroken/.test(e.message),
    );
    assert.equal((await run('sh', ['-c', 'exit 3'], { reject: false })).exitCode, 3);
  });

  it('stops the child at once when the signal is already aborted (regression)', async () => {
    const controller = new AbortController();
    controller.abort();
    const started = Date.now();
    await assert.rejects(run('sleep', ['30'], { signal: controller.signal }), (e: IngotError) => e.code === 'INGOT_ABORTED');
    // The child was killed, not waited for: far less than its 30 s.
    assert.ok(Date.now() - started < 20_000);
  });

  it('times out and kills the child', async () => {
    const r = await run('sleep', ['30'], { timeoutMs: 200, reject: false });
    assert.equal(r.timedOut, true);
    assert.equal(r.signal, 'SIGTERM');
  });

  it('a missing tool is INGOT_TOOL_MISSING', async () => {
    await assert.rejects(run('ingot-no-such-tool', []), (e: IngotError) => e.code === 'INGOT_TOOL_MISSING');
  });
});
