/**
 * `ingot packer build` as a real process: live output, scrubbing, and Ctrl-C
 * (SIGINT to ingot) reaching packer's process group so packer cancels cleanly.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { needTool } from '../helpers/tools.js';
import { writeNullTemplate } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('ingot packer build (process)', () => {
  it('Ctrl-C stops the build cleanly and exits 1; secrets never printed', async (t) => {
    if (!needTool(t, 'packer')) return;
    const dir = mkdtempSync(join(tmpdir(), 'ingot-cli-build-'));
    writeNullTemplate(join(dir, 'tpl'));
    const nap = '43.219';
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'src', 'bin.ts'),
        'packer',
        'build',
        join(dir, 'tpl'),
        '--var',
        `sleep_seconds=${nap}`,
        '--var',
        'api_token=cli-secret-77aa',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    let stdout = '';
    let sentAt = 0;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!sentAt && stderr.includes('Running local shell script')) {
        sentAt = Date.now();
        setTimeout(() => child.kill('SIGINT'), 200);
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.ok(sentAt > 0, stderr);
    const elapsed = Date.now() - sentAt;
    assert.equal(code, 1, stderr);
    assert.ok(elapsed < 10_000, `exited ${elapsed} ms after Ctrl-C`);
    assert.match(stderr, /\[tpl\] .*using token \*\*\*/);
    assert.match(stderr, /Cleanly cancelled/);
    assert.match(stderr, /INGOT_ABORTED/);
    assert.ok(!stderr.includes('cli-secret-77aa') && !stdout.includes('cli-secret-77aa'));
    assert.ok(!execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).includes(`sleep ${nap}`), 'no packer child left behind');
  });
});
