import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { IngotError } from '../../src/errors.js';
import type { RunOptions, RunResult } from '../../src/exec/run.js';
import { silentLogger } from '../../src/log/logger.js';
import type { LaunchSpec, Runner } from '../../src/provision/launch/backend.js';
import { launch } from '../../src/provision/launch/launch.js';
import { multipassLaunchArgv } from '../../src/provision/launch/multipass.js';
import type { PostLaunch } from '../../src/provision/profile.js';

interface Recorded {
  argv: string[];
  exitCode: number;
  stdout: string;
  stderr: string;
  writeLocal?: string;
}

const fixtures = path.resolve(import.meta.dirname, 'fixtures/multipass');
const GATE_DIGEST = 'sha256:5f1c0b7e0d2a3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b';

/** A runner that replays a recording and fails on any argv that differs from it. */
function replay(recording: Recorded[], substitute: (arg: string) => string): { runner: Runner; calls: string[][] } {
  const calls: string[][] = [];
  let next = 0;
  const runner: Runner = async (command: string, args: readonly string[], options?: RunOptions): Promise<RunResult> => {
    const argv = [command, ...args];
    calls.push(argv);
    const entry = recording[next++];
    assert.ok(entry, `unexpected extra call: ${JSON.stringify(argv)}`);
    const expected = entry.argv.map(substitute);
    if (entry.writeLocal !== undefined) {
      // `multipass transfer VM:PATH LOCAL`: the local path is ours to choose; write what the VM held.
      assert.deepEqual(argv.slice(0, -1), expected.slice(0, -1));
      await writeFile(argv.at(-1)!, entry.writeLocal);
    } else {
      assert.deepEqual(argv, expected, `call #${next}`);
    }
    const failed = entry.exitCode !== 0;
    if (failed && options?.reject !== false) throw new Error(`${command} failed with exit code ${entry.exitCode}`);
    return { command, args, exitCode: entry.exitCode, signal: null, stdout: entry.stdout, stderr: entry.stderr, timedOut: false, durationMs: 1 };
  };
  return { runner, calls: Object.assign(calls, { done: () => next }) };
}

describe('multipass backend against recorded argv and output', () => {
  let dir: string;
  let spec: LaunchSpec;
  let post: PostLaunch;
  const load = async (name: string) => JSON.parse(await readFile(path.join(fixtures, `${name}.json`), 'utf8')) as Recorded[];
  const sub = (arg: string) => arg.replace('USER_DATA', spec.userDataFile).replace(/^BUNDLE/, path.join(dir, 'bundle'));

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ingot-multipass-'));
    await mkdir(path.join(dir, 'bundle/bin'), { recursive: true });
    await writeFile(path.join(dir, 'bundle/bin/start.sh'), '#!/bin/sh\nexec docker compose up -d\n');
    await chmod(path.join(dir, 'bundle/bin/start.sh'), 0o644); // exec bit lost on the way (zip, Windows checkout)
    await writeFile(path.join(dir, 'bundle/polis.env'), 'MODE=prod\n');
    await chmod(path.join(dir, 'bundle/polis.env'), 0o640);
    await writeFile(path.join(dir, 'digests.yaml'), `images:\n  ghcr.io/example/gate:1.2.0: ${GATE_DIGEST}\n`);
    await writeFile(path.join(dir, 'user-data'), '#cloud-config\n{}\n');
    spec = { name: 'polis', backend: 'multipass', image: '24.04', userDataFile: path.join(dir, 'user-data'), cpus: 2, memory: '4G', disk: '20G', timeoutSeconds: 900 };
    post = {
      bundle: path.join(dir, 'bundle'),
      bundleDest: '/opt/polis',
      commands: ['docker compose -f /opt/polis/compose.yaml pull'],
      imageDigests: path.join(dir, 'digests.yaml'),
      health: [{ name: 'gate', command: 'curl -fsS http://127.0.0.1:8080/health', timeoutSeconds: 30 }],
    };
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('the launch argv is exactly the documented one', () => {
    assert.deepEqual(multipassLaunchArgv(spec), ['launch', '24.04', '--name', 'polis', '--cpus', '2', '--memory', '4G', '--disk', '20G', '--timeout', '900', '--cloud-init', spec.userDataFile]);
  });

  test('ready: launch, status 0, bundle with exec bits, commands, digests, health retried', async () => {
    const recording = await load('ok');
    const { runner, calls } = replay(recording, sub);
    const result = await launch(spec, { log: silentLogger, runner, post });
    assert.equal(calls.length, recording.length, 'every recorded call was made');
    assert.equal(result.cloudInit.state, 'ready');
    assert.equal(result.cloudInit.detail, 'DataSourceNoCloud [seed=/dev/sr0]');
    assert.equal(result.stopped, false);
  });

  test('exit 2 (degraded) fails the launch with detail, log tail and retry hint; the VM is deleted', async () => {
    const { runner, calls } = replay(await load('degraded'), sub);
    await assert.rejects(launch(spec, { log: silentLogger, runner, post, retryCommand: 'run `ingot launch polis` again' }), (error: unknown) => {
      assert.ok(error instanceof IngotError);
      assert.equal(error.code, 'INGOT_CLOUD_INIT_FAILED');
      assert.equal(error.exitCode, 1);
      assert.match(error.message, /cloud-init degraded \(recoverable errors\) on polis: status: done \(exit 2\)/);
      assert.match(error.message, /Failed to install packages: \['polis-agent'\]/);
      assert.match(error.message, /E: Unable to locate package polis-agent/);
      assert.match(error.hint ?? '', /\/var\/log\/cloud-init-output\.log/);
      assert.match(error.hint ?? '', /ingot launch polis/);
      return true;
    });
    assert.deepEqual(calls.at(-1), ['multipass', 'delete', '--purge', 'polis']);
  });

  test('exit 1 (error) fails the launch naming the failed module', async () => {
    const { runner, calls } = replay(await load('error'), sub);
    await assert.rejects(launch(spec, { log: silentLogger, runner, post }), (error: unknown) => {
      assert.ok(error instanceof IngotError);
      assert.equal(error.code, 'INGOT_CLOUD_INIT_FAILED');
      assert.match(error.message, /cloud-init failed on polis: status: error \(exit 1\)/);
      assert.match(error.message, /Runparts: 1 failures \(runcmd\)/);
      return true;
    });
    assert.deepEqual(calls.at(-1), ['multipass', 'delete', '--purge', 'polis']);
  });

  test('a digest mismatch aborts naming the image', async () => {
    const ok = await load('ok');
    const inspect = ok.findIndex((e) => e.argv.includes('inspect'));
    const recording = [...ok.slice(0, inspect + 1), { argv: ['multipass', 'delete', '--purge', 'polis'], exitCode: 0, stdout: '', stderr: '' }];
    await writeFile(path.join(dir, 'other-digests.yaml'), `ghcr.io/example/gate:1.2.0: sha256:${'a'.repeat(64)}\n`);
    const { runner, calls } = replay(recording, sub);
    await assert.rejects(launch(spec, { log: silentLogger, runner, post: { ...post, imageDigests: path.join(dir, 'other-digests.yaml') } }), (error: unknown) => {
      assert.ok(error instanceof IngotError);
      assert.equal(error.code, 'INGOT_IMAGE_DIGEST_MISMATCH');
      assert.equal(error.image, 'ghcr.io/example/gate:1.2.0');
      assert.match(error.message, /image ghcr\.io\/example\/gate:1\.2\.0: digest mismatch/);
      assert.equal(error.actual, GATE_DIGEST);
      return true;
    });
    assert.equal(calls.length, recording.length);
  });

  test('a failed launch deletes the instance', async () => {
    const { runner, calls } = replay(await load('launch-timeout'), sub);
    await assert.rejects(launch(spec, { log: silentLogger, runner }), /multipass launch polis failed \(exit 2\): .*timed out waiting for response/s);
    assert.deepEqual(calls.at(-1), ['multipass', 'delete', '--purge', 'polis']);
  });

  test('refuses to launch over an existing instance, and never deletes it', async () => {
    const recording: Recorded[] = [{ argv: ['multipass', 'info', 'polis'], exitCode: 0, stdout: 'Name:           polis\nState:          Running\n', stderr: '' }];
    const { runner, calls } = replay(recording, sub);
    await assert.rejects(launch(spec, { log: silentLogger, runner }), (error: unknown) => {
      assert.ok(error instanceof IngotError);
      assert.equal(error.code, 'INGOT_EXISTS');
      assert.equal(error.exitCode, 2);
      return true;
    });
    assert.equal(calls.length, 1, 'no launch, no delete');
  });

  test('--dry-run prints every command and runs none', async () => {
    const lines: string[] = [];
    const runner: Runner = async () => assert.fail('dry-run must not run anything');
    await launch(spec, { log: silentLogger, runner, dryRun: true, print: (l) => lines.push(l), post: { commands: ['echo hi'], imageDigests: post.imageDigests!, health: [{ name: 'h', command: 'true' }] } });
    assert.deepEqual(lines, [
      `multipass launch 24.04 --name polis --cpus 2 --memory 4G --disk 20G --timeout 900 --cloud-init ${spec.userDataFile}`,
      'multipass exec polis -- sudo cloud-init status --wait --long',
      "multipass exec polis -- sudo bash -c 'set -euo pipefail\necho hi'",
      "multipass exec polis -- sudo docker inspect --format '{{json .RepoDigests}}' ghcr.io/example/gate:1.2.0",
      'multipass exec polis -- sudo bash -c true',
    ]);
  });
});
