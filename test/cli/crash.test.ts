/**
 * A crash outside the command's promise chain is reported through the same
 * scrub as every other line: a secret from the environment never reaches
 * stderr in Node's default uncaught-exception report.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

const mainUrl = new URL('../../dist/src/cli/main.js', import.meta.url).href;
const secret = 'crash-canary-0123456789abcdef-SECRET';

function crashWith(throwing: string) {
  const script = `
    const { main } = await import(${JSON.stringify(mainUrl)});
    await main({ argv: ['--version'], env: process.env, cwd: process.cwd(), stdout: process.stdout, stderr: process.stderr, die: () => {} });
    ${throwing}
    await new Promise((r) => setTimeout(r, 5000));`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, AWS_SECRET_ACCESS_KEY: secret },
    encoding: 'utf8',
  });
}

describe('crashes outside the command', () => {
  it('an uncaught exception is scrubbed and exits 1', () => {
    const r = crashWith(`setTimeout(() => { throw new Error('signing failed for ${secret}'); }, 10);`);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /ingot: internal error \(please report it\): Error: signing failed for \*\*\*/);
    assert.ok(!r.stderr.includes(secret), r.stderr);
  });

  it('an unhandled rejection is scrubbed and exits 1', () => {
    const r = crashWith(`Promise.reject(new Error('token ${secret} refused'));`);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /internal error/);
    assert.ok(!r.stderr.includes(secret), r.stderr);
  });
});
