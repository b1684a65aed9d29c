/**
 * The packer source driver against the real packer (Debian's 1.6.6): a
 * null-builder template built through `open()`, fingerprints, failures,
 * scrubbing, the exact argv packer gets, and Ctrl-C.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { buffer } from 'node:stream/consumers';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, it } from 'node:test';
import { packerDriver, type PackerSource } from '../../src/acquire/packer.js';
import type { AcquireContext } from '../../src/acquire/source.js';
import { IngotError } from '../../src/errors.js';
import type { Logger } from '../../src/log/logger.js';
import { needTool } from '../helpers/tools.js';
import { captureLogger, expectedArtifact, writeNullTemplate } from './helpers.js';

const TOKEN = 'tok-3f9a1c77e2b84d0e';

function setup(extra: Partial<PackerSource> = {}) {
  const manifestDir = mkdtempSync(join(tmpdir(), 'ingot-packer-'));
  writeNullTemplate(join(manifestDir, 'tpl'));
  const source: PackerSource = { type: 'packer', path: 'tpl', artifact: 'output/disk.raw', variables: { greeting: 'hi there', api_token: TOKEN }, ...extra };
  return { manifestDir, source };
}

function context(manifestDir: string, log: Logger, options: { signal?: AbortSignal; env?: NodeJS.ProcessEnv } = {}): AcquireContext {
  return {
    root: manifestDir,
    image: 'null-image',
    signal: options.signal ?? new AbortController().signal,
    log,
    http: {} as AcquireContext['http'],
    env: options.env ?? process.env,
  };
}

describe('packer source driver (real packer)', () => {
  it('builds through open(): artifact bytes, build facts, fingerprint stable and sensitive', async (t) => {
    if (!needTool(t, 'packer')) return;
    const { manifestDir, source } = setup();
    const { log, lines } = captureLogger();
    const ctx = context(manifestDir, log);
    const fp1 = await packerDriver.fingerprint!(source, ctx);
    const opened = await packerDriver.open(source, ctx);
    const bytes = await buffer(opened.stream);
    assert.deepEqual(bytes, expectedArtifact('hi there'));
    assert.equal(opened.size, bytes.length);

    const version = /v?(\d+\.\d+\.\d+)/.exec(execFileSync('packer', ['version'], { encoding: 'utf8' }))![1];
    assert.equal(opened.facts.type, 'packer');
    assert.equal(opened.facts.packerVersion, version);
    assert.equal(opened.facts.builderId, 'fnoeding.null', 'builder id from the machine-readable artifact lines');
    assert.equal(opened.facts.fingerprint, fp1.value, 'facts carry the same fingerprint as fingerprint()');
    assert.match(String(opened.facts.templateDigest), /^sha256:[0-9a-f]{64}$/);
    assert.ok(typeof opened.facts.durationMs === 'number' && opened.facts.durationMs > 0);

    // The UI streamed live, prefixed with the image, and the token never shown.
    assert.ok(
      lines.some((l) => l.includes('[null-image]') && l.includes('Running local shell script')),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => l.includes('using token ***')),
      'the echo line is there, scrubbed',
    );
    assert.ok(!lines.some((l) => l.includes(TOKEN)), 'token never logged');

    // Unchanged inputs (the build's own output excluded) → same fingerprint.
    assert.equal((await packerDriver.fingerprint!(source, ctx)).value, fp1.value);
    // A sensitive value does not enter the fingerprint; a plain variable does.
    assert.equal((await packerDriver.fingerprint!({ ...source, variables: { ...source.variables, api_token: 'other-token' } }, ctx)).value, fp1.value);
    const changedVar = (await packerDriver.fingerprint!({ ...source, variables: { ...source.variables, greeting: 'bye' } }, ctx)).value;
    assert.notEqual(changedVar, fp1.value);
    // A template edit changes it.
    writeNullTemplate(join(manifestDir, 'tpl'), 'an edit');
    const changedTemplate = (await packerDriver.fingerprint!(source, ctx)).value;
    assert.notEqual(changedTemplate, fp1.value);
    assert.notEqual(changedTemplate, changedVar);
  });

  it('a failing build rejects with the tail of its output, secrets from the environment scrubbed', async (t) => {
    if (!needTool(t, 'packer')) return;
    // This time the token comes from ingot's own environment (PKR_VAR_*), the way to keep it out of the manifest.
    const { manifestDir, source } = setup({ variables: { greeting: 'x', fail: 'yes' }, sensitive: ['api_token'] });
    const { log, lines } = captureLogger();
    const env = { ...process.env, PKR_VAR_api_token: TOKEN };
    const error = await packerDriver.open(source, context(manifestDir, log, { env })).then(
      () => assert.fail('expected the build to fail'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof IngotError);
    assert.equal(error.code, 'INGOT_PACKER_BUILD_FAILED');
    assert.match(error.message, /build exploded on purpose/);
    assert.match(error.message, /using token \*\*\*/);
    assert.ok(!error.message.includes(TOKEN) && !JSON.stringify(error.toJSON()).includes(TOKEN));
    assert.ok(!lines.some((l) => l.includes(TOKEN)));
  });

  it('passes -only and -on-error on argv and every variable only through PKR_VAR_* environment', async (t) => {
    const real = needTool(t, 'packer');
    if (!real) return;
    // A recording shim named packer, first on PATH, that then runs the real one.
    const bin = mkdtempSync(join(tmpdir(), 'ingot-shim-'));
    const record = join(bin, 'calls.log');
    writeFileSync(
      join(bin, 'packer'),
      `#!/bin/sh\nprintf '%s\\n' "ARGV $*" >> '${record}'\nenv | grep '^PKR_VAR_' | sort >> '${record}'\nexec '${real}' "$@"\n`,
    );
    chmodSync(join(bin, 'packer'), 0o755);
    const env = { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` };
    const { manifestDir, source } = setup({ only: ['null.main'], onError: 'abort' });
    await buffer((await packerDriver.open(source, context(manifestDir, captureLogger().log, { env }))).stream);
    const calls = readFileSync(record, 'utf8');
    const build = calls.split('\n').find((l) => l.startsWith('ARGV build'));
    assert.equal(build, 'ARGV build -machine-readable -color=false -only=null.main -on-error=abort .');
    assert.ok(
      !calls
        .split('\n')
        .filter((l) => l.startsWith('ARGV'))
        .some((l) => l.includes(TOKEN) || l.includes('hi there')),
      'no value on argv',
    );
    assert.match(calls, /^PKR_VAR_api_token=tok-3f9a1c77e2b84d0e$/m);
    assert.match(calls, /^PKR_VAR_greeting=hi there$/m);
  });

  it('abort stops a long shell-local step well within the grace period and leaves no process behind', async (t) => {
    if (!needTool(t, 'packer')) return;
    const nap = '41.731';
    const { manifestDir, source } = setup({ variables: { sleep_seconds: nap } });
    const controller = new AbortController();
    const lines: string[] = [];
    const base = captureLogger();
    const log: Logger = {
      ...base.log,
      info: (m, f) => {
        lines.push(m);
        if (m.includes('Running local shell script')) setTimeout(() => controller.abort(new Error('test abort')), 300);
        base.log.info(m, f);
      },
      child: () => log,
    };
    const started = Date.now();
    const error = await packerDriver.open(source, context(manifestDir, log, { signal: controller.signal })).then(
      () => assert.fail('expected an abort'),
      (e: unknown) => e,
    );
    const elapsed = Date.now() - started;
    assert.ok(error instanceof IngotError);
    assert.equal(error.code, 'INGOT_ABORTED');
    assert.ok(elapsed < 10_000, `stopped after ${elapsed} ms`);
    assert.ok(
      base.lines.some((l) => /cancel/i.test(l)),
      'packer saw the interrupt and cancelled cleanly',
    );
    const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
    assert.ok(!ps.includes(`sleep ${nap}`), 'the shell-local child is gone');
  });

  it('a build that leaves the declared artifact missing fails with INGOT_PACKER_ARTIFACT_MISSING', async (t) => {
    if (!needTool(t, 'packer')) return;
    const { manifestDir, source } = setup({ artifact: 'output/other.raw' });
    mkdirSync(join(manifestDir, 'tpl', 'output'), { recursive: true });
    const error = await packerDriver.open(source, context(manifestDir, captureLogger().log)).then(
      () => assert.fail('expected a missing artifact'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof IngotError);
    assert.equal(error.code, 'INGOT_PACKER_ARTIFACT_MISSING');
  });
});
