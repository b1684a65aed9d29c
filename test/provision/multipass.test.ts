/**
 * The multipass backend against recorded argv and output. multipass cannot
 * be installed on the CI machines (it needs snapd and its daemon), so each
 * case is an ordered list of calls with the output multipass 1.16 /
 * cloud-init 24.x print (`multipass version`: "multipass  1.16.0" lines;
 * `info --format json`: {"errors":[],"info":{NAME:{"state":"Running",…}}};
 * `cloud-init status --wait --long`: the status/extended_status/detail/
 * errors/recoverable_errors block, exit 0, 1 or 2). The fake runner fails on
 * any argv that differs from the recording.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { IngotError } from '../../src/errors.js';
import type { RunOptions, RunResult } from '../../src/exec/run.js';
import { silentLogger } from '../../src/log/logger.js';
import type { LaunchSpec, Runner } from '../../src/provision/launch/backend.js';
import { launch, resume } from '../../src/provision/launch/launch.js';
import { deleteVm, listVms, startVm, stopVm } from '../../src/provision/launch/lifecycle.js';
import { checkMultipassVersion, multipassLaunchArgv, parseMultipassVersion } from '../../src/provision/launch/multipass.js';
import { readRecord } from '../../src/provision/launch/vm-state.js';
import { STEP_DEFAULTS, type Step } from '../../src/provision/steps.js';

/** One recorded call: argv (with placeholders), exit code, stdout, stderr. */
type Call = [argv: string[], exitCode: number, stdout?: string, stderr?: string];

const GATE_DIGEST = 'sha256:5f1c0b7e0d2a3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b';
const VERSION_OK = 'multipass   1.16.0\nmultipassd  1.16.0\n';
const DONE =
  'status: done\nextended_status: done\nboot_status_code: enabled-by-generator\nlast_update: Thu, 01 Jan 1970 00:01:12 +0000\ndetail: DataSourceNoCloud [seed=/dev/sr0]\nerrors: []\nrecoverable_errors: {}\n';
const ERROR =
  "status: error\nextended_status: error - done\nboot_status_code: enabled-by-generator\nlast_update: Thu, 01 Jan 1970 00:02:01 +0000\ndetail: DataSourceNoCloud [seed=/dev/sr0]\nerrors:\n\t- ('scripts_user', RuntimeError('Runparts: 1 failures (runcmd) in /var/lib/cloud/instance/scripts'))\nrecoverable_errors: {}\n";
const info = (state: string) =>
  JSON.stringify(
    { errors: [], info: { polis: { cpu_count: '2', image_release: '24.04 LTS', ipv4: ['10.13.31.7'], release: 'Ubuntu 24.04.1 LTS', state } } },
    null,
    4,
  );
const x = (...argv: string[]) => ['multipass', 'exec', 'polis', '--', 'sudo', ...argv];
const sh = (script: string) => x('env', 'POLIS_VERSION=v0.4.0', 'bash', '-c', `set -euo pipefail\n${script}`);

describe('multipass backend against recorded argv and output', () => {
  let dir: string;
  let vmsDir: string;
  let spec: LaunchSpec;
  let steps: Step[];
  let tarListings: string[];

  /** A runner that replays `calls`; TAR and PID stand for the bundle's temp file and our pid. */
  function replay(calls: Call[]): { runner: Runner; made: string[][] } {
    const made: string[][] = [];
    let next = 0;
    const runner: Runner = async (command: string, args: readonly string[], options?: RunOptions): Promise<RunResult> => {
      const argv = [command, ...args];
      made.push(argv);
      const entry = calls[next++];
      assert.ok(entry, `unexpected extra call: ${JSON.stringify(argv)}`);
      const expected = entry[0].map((a) => a.replaceAll('USER_DATA', spec.userDataFile).replaceAll('PID', String(process.pid)));
      const tarAt = expected.indexOf('TAR');
      if (tarAt >= 0) {
        // The one tar of a transfer: a temp file of ours; keep its listing for the test.
        assert.match(argv[tarAt]!, /ingot-bundle-[^/]+\/bundle\.tar$/);
        tarListings.push(execFileSync('tar', ['-tvf', argv[tarAt]!], { encoding: 'utf8' }));
        expected[tarAt] = argv[tarAt]!;
      }
      assert.deepEqual(argv, expected, `call #${next}`);
      const [, exitCode, stdout = '', stderr = ''] = entry;
      if (exitCode !== 0 && options?.reject !== false) throw new Error(`${command} failed with exit code ${exitCode}`);
      return { command, args, exitCode, signal: null, stdout, stderr, timedOut: false, durationMs: 1 };
    };
    return { runner, made };
  }

  const launchCalls = (): Call[] => [
    [['multipass', 'version'], 0, VERSION_OK],
    [['multipass', 'info', 'polis'], 2, '', 'info failed: The following errors occurred:\ninstance "polis" does not exist\n'],
    [
      ['multipass', 'launch', '24.04', '--name', 'polis', '--cpus', '2', '--memory', '4G', '--disk', '20G', '--timeout', '900', '--cloud-init', 'USER_DATA'],
      0,
      'Launched: polis\n',
    ],
    [x('cloud-init', 'status', '--wait', '--long'), 0, `..............\n${DONE}`],
  ];
  const transferCalls = (n: number): Call[] => [
    [['multipass', 'transfer', 'TAR', `polis:/tmp/ingot-transfer-PID-${n}.tar`], 0],
    [
      x(
        'sh',
        '-c',
        'set -e; mkdir -p -- "$2"; tar -x --no-same-owner --no-overwrite-dir -f "$1" -C "$2"; rm -f -- "$1"',
        'ingot-extract',
        `/tmp/ingot-transfer-PID-${n}.tar`,
        '/opt/polis',
      ),
      0,
    ],
  ];
  const afterPull: Call[] = [
    [x('docker', 'inspect', '--format', '{{json .RepoDigests}}', 'ghcr.io/example/gate:1.2.0'), 0, `["ghcr.io/example/gate@${GATE_DIGEST}"]\n`],
    [sh('cd /opt/polis && docker compose up -d'), 0],
    [sh('curl -fsS http://127.0.0.1:8080/health'), 7, '', 'curl: (7) Failed to connect to 127.0.0.1 port 8080\n'],
    [sh('curl -fsS http://127.0.0.1:8080/health'), 0, 'ok\n'],
  ];
  const pull = x('env', 'POLIS_VERSION=v0.4.0', 'docker', 'compose', '-f', '/opt/polis/compose.yaml', 'pull');
  const pullFailed: Call = [pull, 18, '', 'Error response from daemon: Get "https://ghcr.io/v2/": net/http: TLS handshake timeout\n'];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ingot-multipass-'));
    await mkdir(path.join(dir, 'bundle/scripts'), { recursive: true });
    await writeFile(path.join(dir, 'bundle/scripts/setup-certs.sh'), 'openssl version\n');
    await chmod(path.join(dir, 'bundle/scripts/setup-certs.sh'), 0o644); // exec bit lost on the way (000, P5)
    await writeFile(path.join(dir, 'bundle/compose.yaml'), 'services: {}\n');
    await writeFile(path.join(dir, 'digests.json'), JSON.stringify({ 'ghcr.io/example/gate:1.2.0': GATE_DIGEST }));
    steps = [
      { kind: 'transfer', ...STEP_DEFAULTS.transfer, from: path.join(dir, 'bundle'), to: '/opt/polis' },
      { kind: 'pull-images', ...STEP_DEFAULTS['pull-images'], retries: 1, delay: 0, compose: '/opt/polis/compose.yaml' },
      { kind: 'verify-digests', ...STEP_DEFAULTS['verify-digests'], manifest: path.join(dir, 'digests.json') },
      { kind: 'run', ...STEP_DEFAULTS.run, name: 'up', command: 'cd /opt/polis && docker compose up -d' },
      { kind: 'health', ...STEP_DEFAULTS.health, delay: 0, command: 'curl -fsS http://127.0.0.1:8080/health' },
    ];
  });
  after(() => rm(dir, { recursive: true, force: true }));
  beforeEach(async () => {
    vmsDir = await mkdtemp(path.join(dir, 'vms-'));
    tarListings = [];
    spec = {
      name: 'polis',
      backend: 'multipass',
      image: '24.04',
      userDataFile: path.join(vmsDir, 'polis/user-data'),
      cpus: 2,
      memory: '4G',
      disk: '20G',
      timeoutSeconds: 900,
      vmDir: path.join(vmsDir, 'polis'),
    };
  });

  const opts = (runner: Runner, extra: Partial<Parameters<typeof launch>[1]> = {}) => ({
    log: silentLogger,
    runner,
    userData: '#cloud-config\n{}\n',
    steps,
    env: { POLIS_VERSION: 'v0.4.0' },
    ...extra,
  });

  test('the launch argv is exactly the documented one (000: --timeout 900, --cloud-init)', () => {
    assert.deepEqual(multipassLaunchArgv(spec), [
      'launch',
      '24.04',
      '--name',
      'polis',
      '--cpus',
      '2',
      '--memory',
      '4G',
      '--disk',
      '20G',
      '--timeout',
      '900',
      '--cloud-init',
      spec.userDataFile,
    ]);
  });

  test("ready: 000's Phase 2 in order — one tar for the bundle, pull retried, digests, up, health retried", async () => {
    const calls = [...launchCalls(), ...transferCalls(1), pullFailed, [pull, 0, 'gate Pulled\n'] as Call, ...afterPull];
    const { runner, made } = replay(calls);
    const result = await launch(spec, opts(runner));
    assert.equal(made.length, calls.length, 'every recorded call was made');
    assert.equal(result.cloudInit.state, 'ready');
    assert.deepEqual(
      result.steps.map((s) => [s.kind, s.attempts]),
      [
        ['transfer', 1],
        ['pull-images', 2],
        ['verify-digests', 1],
        ['run', 1],
        ['health', 2],
      ],
    );
    assert.equal(tarListings.length, 1, 'one transfer for the whole bundle');
    assert.match(tarListings[0]!, /-rwxr-xr-x root\/root .* scripts\/setup-certs\.sh/, 'exec bit restored on *.sh');
    const record = await readRecord(vmsDir, 'polis');
    assert.equal(record?.phase, 'ready');
    assert.deepEqual(record?.launch?.env, { POLIS_VERSION: 'v0.4.0' });
    assert.equal((await stat(spec.userDataFile)).mode & 0o777, 0o600, 'user-data kept beside the record, private');
  });

  test('cloud-init exit 1 keeps the VM and says how to inspect, resume and delete it', async () => {
    const calls: Call[] = [
      ...launchCalls().slice(0, 3),
      [x('cloud-init', 'status', '--wait', '--long'), 1, ERROR],
      [x('cat', '--', '/var/log/cloud-init-output.log'), 0, 'E: Unable to locate package docker-ce\n'],
    ];
    const { runner, made } = replay(calls);
    await assert.rejects(launch(spec, opts(runner)), (error: unknown) => {
      assert.ok(error instanceof IngotError);
      assert.equal(error.code, 'INGOT_CLOUD_INIT_FAILED');
      assert.equal(error.exitCode, 1);
      assert.match(error.message, /cloud-init failed on polis: status: error \(exit 1\)/);
      assert.match(error.message, /Runparts: 1 failures \(runcmd\)/);
      assert.match(error.message, /Unable to locate package docker-ce/);
      assert.match(error.hint ?? '', /the VM is kept for inspection \(`ingot vm exec polis -- journalctl -b --no-pager`, `ingot vm ssh polis`\)/);
      assert.match(error.hint ?? '', /`ingot launch --resume polis`/);
      assert.match(error.hint ?? '', /`ingot vm delete polis`/);
      assert.equal(error.details?.kept, true);
      return true;
    });
    assert.equal(made.length, calls.length, 'no delete');
    const record = await readRecord(vmsDir, 'polis');
    assert.equal(record?.phase, 'failed');
    assert.equal(record?.error?.code, 'INGOT_CLOUD_INIT_FAILED');
  });

  test('--rm-on-failure removes the VM instead', async () => {
    const degraded = DONE.replace('extended_status: done', 'extended_status: degraded done').replace(
      'recoverable_errors: {}',
      "recoverable_errors:\nWARNING:\n\t- Failed to install packages: ['polis-agent']",
    );
    const calls: Call[] = [
      ...launchCalls().slice(0, 3),
      [x('cloud-init', 'status', '--wait', '--long'), 2, degraded],
      [x('cat', '--', '/var/log/cloud-init-output.log'), 0, ''],
      [['multipass', 'delete', '--purge', 'polis'], 0],
    ];
    const { runner, made } = replay(calls);
    await assert.rejects(launch(spec, opts(runner, { rmOnFailure: true })), (error: unknown) => {
      assert.ok(error instanceof IngotError);
      assert.match(error.message, /cloud-init degraded \(recoverable errors\) on polis: status: done \(exit 2\)/);
      assert.match(error.message, /Failed to install packages: \['polis-agent'\]/);
      assert.match(error.hint ?? '', /the VM was removed \(--rm-on-failure\)/);
      return true;
    });
    assert.equal(made.length, calls.length);
    assert.equal(await readRecord(vmsDir, 'polis'), undefined, 'the record went with it');
  });

  test('a step failing after its retries keeps the VM; --resume re-runs every step and completes', async () => {
    const first = replay([...launchCalls(), ...transferCalls(1), pullFailed, pullFailed]);
    await assert.rejects(launch(spec, opts(first.runner)), (error: unknown) => {
      assert.ok(error instanceof IngotError);
      assert.equal(error.code, 'INGOT_POST_LAUNCH_FAILED');
      assert.match(
        error.message,
        /^post-launch step 2\/5 \(pull-images \/opt\/polis\/compose\.yaml\) failed on polis after 2 attempts: docker compose -f \/opt\/polis\/compose\.yaml pull: exit 18:\nError response from daemon/,
      );
      assert.deepEqual([error.details?.step, error.details?.attempts, error.details?.kept], [2, 2, true]);
      assert.match(error.hint ?? '', /ingot launch --resume polis/);
      return true;
    });
    const record = (await readRecord(vmsDir, 'polis'))!;
    assert.equal(record.phase, 'failed');

    const second = replay([
      [['multipass', 'version'], 0, VERSION_OK],
      [['multipass', 'info', 'polis', '--format', 'json'], 0, info('Running')],
      [x('cloud-init', 'status', '--wait', '--long'), 0, DONE],
      ...transferCalls(1),
      [pull, 0],
      ...afterPull,
    ]);
    const result = await resume(record, opts(second.runner, { env: record.launch!.env }));
    assert.equal(result.steps.length, 5);
    assert.equal((await readRecord(vmsDir, 'polis'))?.phase, 'ready');
  });

  test('a digest mismatch stops before the services start, naming the image', async () => {
    await writeFile(path.join(dir, 'other.json'), JSON.stringify({ 'ghcr.io/example/gate:1.2.0': `sha256:${'a'.repeat(64)}` }));
    const mismatch = steps.map((s) => (s.kind === 'verify-digests' ? { ...s, manifest: path.join(dir, 'other.json') } : s));
    const calls: Call[] = [...launchCalls(), ...transferCalls(1), [pull, 0], afterPull[0]!];
    const { runner, made } = replay(calls);
    await assert.rejects(launch(spec, opts(runner, { steps: mismatch })), (error: unknown) => {
      assert.ok(error instanceof IngotError);
      assert.equal(error.code, 'INGOT_IMAGE_DIGEST_MISMATCH');
      assert.equal(error.image, 'ghcr.io/example/gate:1.2.0');
      assert.equal(error.actual, GATE_DIGEST);
      assert.match(error.message, /step 3\/5 \(verify-digests other\.json\)/);
      return true;
    });
    assert.equal(made.length, calls.length, 'docker compose up never ran');
  });

  test('multipass older than 1.16 is refused before anything runs', async () => {
    assert.deepEqual(parseMultipassVersion('multipass   1.16.1+mac\nmultipassd  1.15.0+mac\n'), { client: '1.16.1', daemon: '1.15.0' });
    const { runner, made } = replay([[['multipass', 'version'], 0, 'multipass   1.15.1\nmultipassd  1.15.1\n']]);
    await assert.rejects(launch(spec, opts(runner)), (error: unknown) => {
      assert.ok(error instanceof IngotError);
      assert.equal(error.code, 'INGOT_TOOL_TOO_OLD');
      assert.match(error.message, /multipass 1\.15\.1 is too old: ingot needs 1\.16\.0 or newer/);
      assert.match(error.hint ?? '', /snap refresh multipass/);
      return true;
    });
    assert.equal(made.length, 1);
    assert.equal(
      await checkMultipassVersion(replay([[['multipass', 'version'], 0, 'multipass   1.16.0\n']]).runner),
      '1.16.0',
      'a client without a daemon line',
    );
  });

  test('refuses to launch over an existing instance, and never deletes it', async () => {
    const { runner, made } = replay([
      [['multipass', 'version'], 0, VERSION_OK],
      [['multipass', 'info', 'polis'], 0, 'Name:           polis\nState:          Running\n'],
    ]);
    await assert.rejects(launch(spec, opts(runner)), (error: unknown) => error instanceof IngotError && error.code === 'INGOT_EXISTS' && error.exitCode === 2);
    assert.equal(made.length, 2, 'no launch, no delete');
    assert.equal(await readRecord(vmsDir, 'polis').catch(() => 'unreadable'), undefined, 'nothing recorded');
  });

  test('data disks and a network-config are refused for multipass (qemu only)', async () => {
    const { runner } = replay([
      [['multipass', 'version'], 0, VERSION_OK],
      [['multipass', 'info', 'polis'], 2, '', 'does not exist'],
    ]);
    await assert.rejects(launch({ ...spec, dataDisks: [{ name: 'state', size: '4G' }] }, opts(runner)), /multipass cannot attach extra disks/);
    const again = replay([[['multipass', 'version'], 0, VERSION_OK]]);
    await rm(path.join(vmsDir, 'polis'), { recursive: true, force: true });
    await assert.rejects(launch({ ...spec, networkConfigFile: '/x/network-config' }, opts(again.runner)), /multipass takes no NoCloud network-config/);
  });

  test('vm list, stop, start (no re-provisioning: multipass start) and delete', async () => {
    const ok = replay([...launchCalls(), ...transferCalls(1), [pull, 0], ...afterPull]);
    await launch(spec, opts(ok.runner));
    const ctx = (runner: Runner) => ({ vmsDir, log: silentLogger, runner });
    const listed = await listVms(ctx(replay([[['multipass', 'info', 'polis', '--format', 'json'], 0, info('Running')]]).runner));
    assert.deepEqual(
      listed.map((v) => [v.name, v.backend, v.status, v.phase]),
      [['polis', 'multipass', 'running', 'ready']],
    );
    const stop = replay([
      [['multipass', 'info', 'polis', '--format', 'json'], 0, info('Running')],
      [['multipass', 'stop', 'polis'], 0],
    ]);
    assert.equal(await stopVm('polis', ctx(stop.runner)), 'stopped');
    assert.equal(await stopVm('polis', ctx(replay([[['multipass', 'info', 'polis', '--format', 'json'], 0, info('Stopped')]]).runner)), 'already-stopped');
    const start = replay([
      [['multipass', 'version'], 0, VERSION_OK],
      [['multipass', 'info', 'polis', '--format', 'json'], 0, info('Stopped')],
      [['multipass', 'info', 'polis', '--format', 'json'], 0, info('Stopped')],
      [['multipass', 'start', 'polis'], 0],
      [x('cloud-init', 'status', '--wait', '--long'), 0, DONE],
    ]);
    const started = await startVm('polis', ctx(start.runner));
    assert.equal(started.alreadyRunning, false);
    assert.equal(started.cloudInit.status, 'done');
    const del = replay([[['multipass', 'delete', '--purge', 'polis'], 0]]);
    await deleteVm('polis', ctx(del.runner));
    assert.equal(del.made.length, 1);
    await assert.rejects(deleteVm('polis', ctx(del.runner)), (e: unknown) => e instanceof IngotError && e.code === 'INGOT_VM_NOT_FOUND' && e.exitCode === 2);
  });

  test('--dry-run prints every command, in order, runs none, and claims nothing', async () => {
    const lines: string[] = [];
    const runner: Runner = async () => assert.fail('dry-run must not run anything');
    const result = await launch(spec, { ...opts(runner), dryRun: true, print: (l) => lines.push(l) });
    assert.equal(result.dryRun, true);
    assert.deepEqual(
      lines.filter((l) => !l.startsWith('#')),
      [
        `multipass launch 24.04 --name polis --cpus 2 --memory 4G --disk 20G --timeout 900 --cloud-init ${spec.userDataFile}`,
        'multipass exec polis -- sudo cloud-init status --wait --long',
        'multipass transfer bundle.tar polis:/tmp/ingot-transfer-….tar',
        'multipass exec polis -- sudo tar -x --no-same-owner --no-overwrite-dir -f /tmp/ingot-transfer-….tar -C /opt/polis',
        'multipass exec polis -- sudo env POLIS_VERSION=v0.4.0 docker compose -f /opt/polis/compose.yaml pull',
        "multipass exec polis -- sudo docker inspect --format '{{json .RepoDigests}}' ghcr.io/example/gate:1.2.0",
        "multipass exec polis -- sudo env POLIS_VERSION=v0.4.0 bash -c 'set -euo pipefail\ncd /opt/polis && docker compose up -d'",
        "multipass exec polis -- sudo env POLIS_VERSION=v0.4.0 bash -c 'set -euo pipefail\ncurl -fsS http://127.0.0.1:8080/health'",
      ],
    );
    assert.equal(lines.at(-1), '# dry run: nothing was created, started or run');
    assert.equal(await readRecord(vmsDir, 'polis'), undefined, 'no record, no VM dir');
  });
});
