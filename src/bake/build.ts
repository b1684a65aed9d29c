/**
 * One bake, as a table of contents: builder VM (overlay on the verified
 * base, build seed with a throwaway builder user and key) → cloud-init
 * applies the profiles → hardening → cleanup → clean power-off → one
 * standalone image (qemu-img convert) → offline inspection (debugfs) →
 * verification boot as a user would → OpenSCAP scan. Any failure stops the
 * bake with the step, cloud-init's status and the log tail; nothing is
 * returned to publish. The builder VM reuses the launch backend (qemu) and
 * its guest-agent channel; the verification boot is an ordinary `launch`.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { asIngotError, ErrorCode, IngotError } from '../errors.js';
import { run } from '../exec/run.js';
import type { Logger } from '../log/logger.js';
import { realRunner, type Instance, type LaunchSpec } from '../provision/launch/backend.js';
import { launch } from '../provision/launch/launch.js';
import { deleteVm, startVm } from '../provision/launch/lifecycle.js';
import { runSteps } from '../provision/launch/post-launch.js';
import { qemuBackend, qemuPaths } from '../provision/launch/qemu.js';
import { CLOUD_INIT_OUTPUT_LOG, waitForCloudInit } from '../provision/launch/readiness.js';
import type { ResolvedProfile } from '../provision/merge.js';
import { renderUserData } from '../provision/render.js';
import type { Step } from '../provision/steps.js';
import { BUILDER_USER, CLEANUP_SCRIPT, HARDEN_SCRIPT, READONLY_FIRST_BOOT_SCRIPT, readonlyChecks, verifyChecks } from './recipe.js';
import { leftovers, rootFilesystem } from './inspect.js';
import { requiredFailures, scanOffline, type ScanRequest, type ScanResult } from './scan.js';

export interface BakeBuildOptions {
  /** The image being baked (names the VMs and messages). */
  name: string;
  /** Verified local base disk (qcow2). */
  base: string;
  kernel?: string;
  initrd?: string;
  append?: string;
  /** The profiles (and build-time set) merged; rendered here with the builder identity. */
  profile: ResolvedProfile;
  /** Renders the build user-data for a builder key (so the caller's rendering and fingerprint agree). */
  renderBuild: (builderKey: string) => string;
  readonlyRoot: boolean;
  verify: string[];
  /** false: skip the verification boot. */
  verifyBoot: boolean;
  scan?: ScanRequest;
  format: 'qcow2' | 'raw';
  disk?: string;
  cpus: number;
  memory: string;
  timeoutSeconds: number;
  accel: 'auto' | 'kvm' | 'tcg';
  /** Keep the work directory (and VMs) of a failed bake for inspection. */
  keepOnFailure: boolean;
  log: Logger;
  signal: AbortSignal;
}

export interface BakeStepRecord {
  step: string;
  durationMs: number;
}

export interface BakeResult {
  /** The baked image (in `workDir`). */
  file: string;
  format: 'qcow2' | 'raw';
  workDir: string;
  steps: BakeStepRecord[];
  accelerator: string;
  /** Last lines of the builder's cloud-init output (the build log summary). */
  buildLogTail: string[];
  buildLogLines: number;
  verified: boolean;
  scan?: ScanResult;
  durationMs: number;
}

const STATE_DISK = { name: 'state', size: '1G' };

/** Bakes one image; returns it in a work directory the caller removes. */
export async function bake(opts: BakeBuildOptions): Promise<BakeResult> {
  const started = Date.now();
  const workDir = await mkdtemp(path.join(tmpdir(), 'ingot-bake-'));
  const steps: BakeStepRecord[] = [];
  const log = opts.log.child({ image: opts.name });
  let current = 'prepare';
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    current = name;
    const t = Date.now();
    log.info(`bake: ${name}`, { step: 'bake' });
    const value = await fn();
    steps.push({ step: name, durationMs: Date.now() - t });
    return value;
  };
  let builder: Instance | undefined;
  try {
    await assertQcow2(opts.base);
    const deadline = Date.now() + opts.timeoutSeconds * 1000;
    const vmsDir = path.join(workDir, 'vms');
    // The builder's key exists only in the work directory, for this build.
    const key = await step('builder key', () => sshKey(workDir, 'builder'));
    const spec: LaunchSpec = {
      name: 'builder',
      backend: 'qemu',
      image: opts.base,
      userDataFile: path.join(vmsDir, 'builder', 'user-data'),
      cpus: opts.cpus,
      memory: opts.memory,
      ...(opts.disk ? { disk: opts.disk } : {}),
      ...(opts.readonlyRoot ? { dataDisks: [STATE_DISK] } : {}),
      timeoutSeconds: opts.timeoutSeconds,
      vmDir: path.join(vmsDir, 'builder'),
      ...(opts.kernel ? { kernel: opts.kernel } : {}),
      ...(opts.initrd ? { initrd: opts.initrd } : {}),
      ...(opts.append ? { append: opts.append } : {}),
      accel: opts.accel,
    };
    await mkdir(spec.vmDir, { recursive: true });
    await writeFile(spec.userDataFile, opts.renderBuild(key.publicKey), { mode: 0o600 });
    const ctx = { log, signal: opts.signal, runner: realRunner, deadline };
    builder = await step('boot builder VM', () => qemuBackend.create(spec, ctx));
    const accelerator = String(builder.info.accelerator ?? '?');
    await step('profiles (cloud-init)', () =>
      waitForCloudInit(builder!, { timeoutMs: Math.max(1000, deadline - Date.now()), signal: opts.signal, retry: `\`ingot bake ${opts.name}\`` }),
    );
    const buildLog = (await builder.readFile(CLOUD_INIT_OUTPUT_LOG).catch(() => Buffer.from(''))).toString('utf8').trimEnd().split('\n');
    await step('hardening', () => guestScript(builder!, 'hardening', HARDEN_SCRIPT, deadline, opts.signal));
    if (opts.readonlyRoot)
      await step('readonly-root first boot', () => guestScript(builder!, 'readonly-root first boot', READONLY_FIRST_BOOT_SCRIPT, deadline, opts.signal));
    await step('cleanup', () => guestScript(builder!, 'cleanup', CLEANUP_SCRIPT, deadline, opts.signal));
    await step('power-off', async () => {
      await builder!.stop({ timeoutMs: 180_000 });
      const consoleTail = (await readFile(qemuPaths(spec.vmDir).console, 'utf8').catch(() => '')).slice(-4000);
      if (!/reboot: Power down|Powering off/.test(consoleTail)) {
        throw new IngotError(ErrorCode.bakeFailed, 'the builder VM did not power off cleanly (it was killed)', {
          hint: `see ${qemuPaths(spec.vmDir).console}`,
        });
      }
    });
    builder = undefined;
    const raw = path.join(workDir, 'image.raw');
    await step('convert to raw', () =>
      run('qemu-img', ['convert', '-O', 'raw', qemuPaths(spec.vmDir).overlay, raw], { timeoutMs: 30 * 60_000, signal: opts.signal }),
    );
    const fs = await rootFilesystem(raw, opts.signal);
    await step('offline inspection', async () => {
      const found = await leftovers(fs, { builder: BUILDER_USER, signal: opts.signal });
      if (found.length)
        throw new IngotError(ErrorCode.bakeVerifyFailed, `the baked image is not user-agnostic: ${found.join(', ')}`, {
          hint: 'a profile wrote identity into the image, or the cleanup failed; see the build log',
        });
    });
    let file = raw;
    if (opts.format === 'qcow2') {
      file = path.join(workDir, 'image.qcow2');
      await step('convert to qcow2 (compressed)', () =>
        run('qemu-img', ['convert', '-c', '-O', 'qcow2', raw, file], { timeoutMs: 60 * 60_000, signal: opts.signal }),
      );
    }
    let scan: ScanResult | undefined;
    if (opts.scan) {
      scan = await step('OpenSCAP scan (offline)', () => scanOffline(fs, opts.scan!, workDir, opts.signal));
      const bad = requiredFailures(opts.scan.required ?? [], scan.failed);
      log.info(
        `scan: ${Object.entries(scan.counts)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
        { step: 'bake' },
      );
      if (bad.length) {
        throw new IngotError(ErrorCode.scanFailed, `OpenSCAP: required rule(s) failed: ${bad.join(', ')}`, {
          hint: `the report is ${scan.report}; fix the profiles (or the hardening) so the rule passes`,
        });
      }
    }
    if (file !== raw) await rm(raw, { force: true });
    if (opts.verifyBoot) await step('verification boot', () => verificationBoot(file, opts, workDir, deadline));
    return {
      file,
      format: opts.format,
      workDir,
      steps,
      accelerator,
      buildLogTail: buildLog.slice(-20),
      buildLogLines: buildLog.length,
      verified: opts.verifyBoot,
      ...(scan ? { scan } : {}),
      durationMs: Date.now() - started,
    };
  } catch (thrown) {
    const error = asIngotError(thrown);
    if (builder) await builder.stop({ timeoutMs: 5000 }).catch(() => undefined);
    const kept = opts.keepOnFailure ? `; the work directory is kept: ${workDir}` : '';
    if (!opts.keepOnFailure) await rm(workDir, { recursive: true, force: true });
    const keptCodes: string[] = [ErrorCode.bakeVerifyFailed, ErrorCode.scanFailed, ErrorCode.aborted, ErrorCode.bakeInput];
    const code = keptCodes.includes(error.code) ? error.code : ErrorCode.bakeFailed;
    throw new IngotError(code, `bake of ${opts.name} failed at step "${current}": ${error.message}`, {
      image: opts.name,
      hint: `${error.hint ?? 'fix the cause and bake again'}; nothing was published${kept}`,
      cause: error,
      details: { ...error.details, step: current },
    });
  }
}

/** Runs a script as root in the guest; throws with its output when it fails. */
async function guestScript(instance: Instance, name: string, script: string, deadline: number, signal: AbortSignal): Promise<void> {
  const r = await instance.exec(['sh', '-c', script], { timeoutMs: Math.max(1000, deadline - Date.now()), signal });
  if (r.exitCode !== 0 || r.timedOut) {
    const tail = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-20).join('\n');
    throw new IngotError(
      ErrorCode.bakeFailed,
      `${name} failed in the builder VM (exit ${r.exitCode}${r.timedOut ? ', timed out' : ''})${tail ? `:\n${tail}` : ''}`,
    );
  }
}

/**
 * The verification boot: the baked image as a user boots it, with a
 * deploy-time identity, then every check. A profile's `reboot` steps become
 * a clean power-off and a cold start of the same VM (a new QEMU process):
 * the same guest-visible effect, and robust under software emulation.
 */
async function verificationBoot(image: string, opts: BakeBuildOptions, workDir: string, deadline: number): Promise<void> {
  const key = await sshKey(workDir, 'verify');
  const identity: ResolvedProfile = { name: 'verify', files: [], parts: { cloudConfig: {}, sysctl: {}, units: [], downloads: [], launch: [] } };
  const userData = renderUserData(identity, { user: 'ingot-verify', sshKeys: [key.publicKey] }).text;
  const run = (name: string, command: string): Step => ({ kind: 'run', name, command, timeout: 300, retries: 0, delay: 0 });
  // The profiles' own deploy-time steps, split at their reboots (readonly-root: reboot, then check the read-only root).
  const phases: Step[][] = [[]];
  for (const step of opts.profile.parts.launch) {
    if (step.kind === 'reboot') phases.push([]);
    else phases.at(-1)!.push(step);
  }
  const first = [
    ...phases[0]!,
    ...verifyChecks().map((c) => run(c.name, c.command)),
    ...opts.verify.map((command, i) => run(`verify[${i}]: ${command}`, command)),
  ];
  phases[phases.length - 1]!.push(...(opts.readonlyRoot ? readonlyChecks().map((c) => run(c.name, c.command)) : []));
  const vmsDir = path.join(workDir, 'vms');
  const vmDir = path.join(vmsDir, 'verify');
  const log = opts.log.child({ image: opts.name });
  const vmCtx = { vmsDir, log, signal: opts.signal };
  try {
    await launch(
      {
        name: 'verify',
        backend: 'qemu',
        image,
        imageFormat: opts.format,
        userDataFile: path.join(vmDir, 'user-data'),
        cpus: opts.cpus,
        memory: opts.memory,
        ...(opts.readonlyRoot ? { dataDisks: [{ name: 'state', size: '2G' }] } : {}),
        timeoutSeconds: Math.max(60, Math.round((deadline - Date.now()) / 1000)),
        vmDir,
        ...(opts.kernel ? { kernel: opts.kernel } : {}),
        ...(opts.initrd ? { initrd: opts.initrd } : {}),
        ...(opts.append ? { append: opts.append } : {}),
        accel: opts.accel,
      },
      { log, signal: opts.signal, userData, steps: first, stopAfter: true },
    );
    for (const steps of phases.slice(1)) {
      log.info('verification boot: cold start (a profile step reboots)', { step: 'bake' });
      const { instance } = await startVm('verify', vmCtx, { timeoutSeconds: Math.max(60, Math.round((deadline - Date.now()) / 1000)) });
      try {
        await runSteps(instance, steps, { log, signal: opts.signal, deadline, retry: `\`ingot bake ${opts.name}\`` });
      } finally {
        await instance.stop();
      }
    }
  } catch (thrown) {
    const error = asIngotError(thrown);
    throw new IngotError(ErrorCode.bakeVerifyFailed, `verification boot failed: ${error.message}`, {
      hint: opts.keepOnFailure ? `the VM is kept in ${vmDir}` : 'run `ingot bake NAME --keep-on-failure` to keep the VM and its console log',
      cause: error,
    });
  } finally {
    if (!opts.keepOnFailure) {
      await deleteVm('verify', vmCtx).catch(() => undefined);
      await rm(vmDir, { recursive: true, force: true }).catch(() => undefined);
    }
  }
}

/** A fresh ed25519 key pair in `dir` (never leaves the work directory). */
async function sshKey(dir: string, name: string): Promise<{ privateKey: string; publicKey: string }> {
  const file = path.join(dir, `${name}_ed25519`);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `ingot-bake-${name}`, '-f', file], { timeoutMs: 30_000 });
  return { privateKey: file, publicKey: (await readFile(`${file}.pub`, 'utf8')).trim() };
}

/** Refuses a base that is not qcow2 (the overlay needs a backing format). */
async function assertQcow2(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    const magic = Buffer.alloc(4);
    await handle.read(magic, 0, 4, 0);
    if (!magic.equals(Buffer.from([0x51, 0x46, 0x49, 0xfb]))) {
      throw new IngotError(ErrorCode.bakeInput, `the base image is not qcow2 (${(await stat(file)).size} bytes)`, {
        path: file,
        hint: 'bake from a qcow2 cloud image (e.g. debian-12-genericcloud-amd64.qcow2)',
      });
    }
  } finally {
    await handle.close();
  }
}

/** qemu-img's version, for the metadata. */
export function qemuImgVersion(): string {
  try {
    return /version (\S+)/.exec(execFileSync('qemu-img', ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
