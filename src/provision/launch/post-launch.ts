/**
 * Running the profile's post-launch steps (src/provision/steps.ts) against
 * a VM, in order, once cloud-init reported success. Each attempt is bounded
 * by the step's timeout (and the launch deadline); a failed attempt is
 * retried `retries` times, `delay` seconds apart, and the last failure ends
 * the run with the step's number, name and attempts in the message. Under
 * --dry-run every step prints what it would run and nothing is reported as
 * having happened.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { asIngotError, ErrorCode, ExitCode, IngotError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { isRecord } from '../profile.js';
import { STRICT } from '../shell.js';
import { describeStep, type Step } from '../steps.js';
import type { Instance } from './backend.js';
import { collectBundle, writeBundleTar } from './bundle.js';
import { waitForCloudInit } from './readiness.js';

/** How the steps run. */
export interface StepRunOptions {
  log: Logger;
  signal?: AbortSignal;
  /** Epoch ms: no attempt runs past it. */
  deadline: number;
  /** Exported into run, pull-images and health commands (e.g. image versions for compose). */
  env?: Record<string, string>;
  /** --dry-run output. */
  print?: (line: string) => void;
  /** Shown in "how to retry" hints of a reboot's cloud-init check. */
  retry?: string;
}

/** What one step did. */
export interface StepOutcome {
  step: number;
  name: string;
  kind: Step['kind'];
  attempts: number;
  durationMs: number;
}

/** Runs `steps` in order against `instance`; throws on the first step that fails after its retries. */
export async function runSteps(instance: Instance, steps: readonly Step[], opts: StepRunOptions): Promise<StepOutcome[]> {
  const dry = Boolean(instance.info.dryRun);
  const outcomes: StepOutcome[] = [];
  for (const [i, step] of steps.entries()) {
    const label = `step ${i + 1}/${steps.length} ${describeStep(step)}`;
    const started = Date.now();
    if (dry) {
      opts.print?.(`# post-launch ${label} (timeout ${step.timeout} s, retries ${step.retries}, delay ${step.delay} s)`);
      await runOne(instance, step, { ...opts, timeoutMs: step.timeout * 1000, dry });
      continue;
    }
    const attempts = step.retries + 1;
    for (let attempt = 1; ; attempt++) {
      opts.signal?.throwIfAborted();
      const timeoutMs = Math.min(step.timeout * 1000, opts.deadline - Date.now());
      try {
        if (timeoutMs <= 0) throw new IngotError(ErrorCode.launchTimeout, 'the launch deadline passed before this step could run', { hint: 'raise --timeout' });
        opts.log.info(`${label}${attempt > 1 ? ` (attempt ${attempt}/${attempts})` : ''}`, { step: 'post-launch' });
        await runOne(instance, step, { ...opts, timeoutMs, dry });
        outcomes.push({ step: i + 1, name: describeStep(step), kind: step.kind, attempts: attempt, durationMs: Date.now() - started });
        opts.log.info(`${label}: ok`, { step: 'post-launch', durationMs: Date.now() - started });
        break;
      } catch (thrown) {
        if (opts.signal?.aborted) throw thrown;
        const error = asIngotError(thrown);
        const retryable = error.exitCode !== ExitCode.usage && attempt < attempts && opts.deadline - Date.now() > step.delay * 1000;
        if (!retryable) throw stepError(error, instance.name, i, steps.length, step, attempt);
        opts.log.warn(`${label} failed (attempt ${attempt}/${attempts}): ${oneLine(error.message)}; retrying in ${step.delay} s`, { step: 'post-launch' });
        await sleep(step.delay * 1000, undefined, { signal: opts.signal });
      }
    }
  }
  return outcomes;
}

interface OneOptions extends StepRunOptions {
  timeoutMs: number;
  dry: boolean;
}

async function runOne(instance: Instance, step: Step, opts: OneOptions): Promise<void> {
  const exec = { timeoutMs: opts.timeoutMs, ...(opts.signal ? { signal: opts.signal } : {}) };
  const envArgv = Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`);
  const shell = (script: string) => [...(envArgv.length ? ['env', ...envArgv] : []), 'bash', '-c', `${STRICT}\n${script}`];
  switch (step.kind) {
    case 'transfer':
      return transfer(instance, step, opts);
    case 'run':
    case 'health': {
      const r = await instance.exec(shell(step.command), exec);
      if (r.exitCode === 0 || opts.dry) return;
      const why = r.timedOut ? `timed out after ${Math.round(opts.timeoutMs / 1000)} s` : `exit ${r.exitCode}`;
      throw new IngotError(step.kind === 'health' ? ErrorCode.healthCheckFailed : ErrorCode.postLaunchFailed, `${why}${tailOf(r.stderr || r.stdout)}`, {
        hint: step.kind === 'health' ? 'run the check in the guest to see why; raise retries/delay if the service is just slow to start' : undefined,
      });
    }
    case 'pull-images': {
      const argvs = step.compose ? [['docker', 'compose', '-f', step.compose, 'pull']] : step.images!.map((image) => ['docker', 'pull', image]);
      for (const argv of argvs) {
        const r = await instance.exec([...(envArgv.length ? ['env', ...envArgv] : []), ...argv], exec);
        if (r.exitCode !== 0 && !opts.dry)
          throw new IngotError(
            ErrorCode.postLaunchFailed,
            `${argv.join(' ')}: ${r.timedOut ? 'timed out' : `exit ${r.exitCode}`}${tailOf(r.stderr || r.stdout)}`,
          );
      }
      return;
    }
    case 'verify-digests':
      return verifyImageDigests(instance, await loadDigestManifest(step.manifest), { ...exec, log: opts.log, dry: opts.dry });
    case 'verify-files':
      return verifyFiles(instance, await loadFileDigests(step.manifest), step.in, { ...exec, log: opts.log, dry: opts.dry });
    case 'reboot':
      await instance.reboot({ deadline: Date.now() + opts.timeoutMs, ...(opts.signal ? { signal: opts.signal } : {}) });
      if (opts.dry) {
        await instance.exec(['cloud-init', 'status', '--wait', '--long'], exec);
        return;
      }
      await waitForCloudInit(instance, {
        timeoutMs: Math.max(1000, opts.deadline - Date.now()),
        ...(opts.signal ? { signal: opts.signal } : {}),
        retry: opts.retry ?? 'resume the launch',
      });
      return;
  }
}

async function transfer(instance: Instance, step: Extract<Step, { kind: 'transfer' }>, opts: OneOptions): Promise<void> {
  const single = (await stat(step.from).catch(() => undefined))?.isFile() ?? false;
  const entries = await collectBundle(step.from, single ? path.posix.basename(step.to) : undefined);
  const dest = single ? path.posix.dirname(step.to) : step.to;
  const files = entries.filter((e) => e.type === 'file').length;
  const exec = { timeoutMs: opts.timeoutMs, ...(opts.signal ? { signal: opts.signal } : {}) };
  if (opts.dry) {
    opts.print?.(`# one tar stream: ${entries.length} entries (${files} files) from ${step.from}`);
    await instance.putArchive('bundle.tar', dest, exec);
  } else {
    const dir = await mkdtemp(path.join(tmpdir(), 'ingot-bundle-'));
    try {
      const tar = path.join(dir, 'bundle.tar');
      const bytes = await writeBundleTar(entries, tar, opts.signal);
      await instance.putArchive(tar, dest, exec);
      opts.log.info(`transfer: ${files} file(s), ${bytes} bytes in one tar → ${step.to}`, { step: 'post-launch' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  if (step.owner) {
    const r = await instance.exec(['chown', '-R', '--', step.owner, step.to], exec);
    if (r.exitCode !== 0 && !opts.dry)
      throw new IngotError(ErrorCode.postLaunchFailed, `chown ${step.owner} ${step.to}: exit ${r.exitCode}${tailOf(r.stderr)}`);
  }
}

/** Reads a digest manifest: `image-ref: sha256:hex` (YAML or JSON, optionally under `images:`). */
export async function loadDigestManifest(file: string): Promise<Map<string, string>> {
  const data: unknown = parse(await readManifest(file));
  const images = isRecord(data) && isRecord(data.images) ? data.images : data;
  if (!isRecord(images))
    throw new IngotError(ErrorCode.manifestInvalid, `${file}: expected a mapping of image → sha256 digest`, { path: file, exitCode: ExitCode.usage });
  const out = new Map<string, string>();
  for (const [image, digest] of Object.entries(images)) {
    const hex = String(digest).replace(/^sha256:/, '');
    if (!/^[0-9a-f]{64}$/.test(hex))
      throw new IngotError(ErrorCode.manifestInvalid, `${file}: digest of ${image} is not sha256:<64 hex>`, { path: file, image, exitCode: ExitCode.usage });
    out.set(image, `sha256:${hex}`);
  }
  return out;
}

/** Checks each image's RepoDigests (docker inspect) contain the expected digest. */
export async function verifyImageDigests(
  instance: Instance,
  expected: Map<string, string>,
  opts: { timeoutMs: number; signal?: AbortSignal; log: Logger; dry?: boolean },
): Promise<void> {
  for (const [image, digest] of expected) {
    const r = await instance.exec(['docker', 'inspect', '--format', '{{json .RepoDigests}}', image], opts);
    if (opts.dry) continue; // nothing ran: nothing to compare
    if (r.exitCode !== 0) {
      throw new IngotError(ErrorCode.imageDigestMismatch, `image ${image} is not present on ${instance.name}${tailOf(r.stderr)}`, {
        image,
        expected: digest,
        hint: 'pull it in a step before verify-digests',
      });
    }
    let repoDigests: string[] = [];
    try {
      repoDigests = JSON.parse(r.stdout.trim() || '[]') as string[];
    } catch {
      repoDigests = [];
    }
    const actual = repoDigests.map((d) => d.slice(d.indexOf('@') + 1));
    if (!actual.includes(digest)) {
      throw new IngotError(ErrorCode.imageDigestMismatch, `image ${image}: digest mismatch on ${instance.name}`, {
        image,
        expected: digest,
        actual: actual.join(', ') || '(no RepoDigests)',
        hint: 'the registry served a different image than the manifest pins (tampering, or a moved tag): pull by digest (image@sha256:…) or update the manifest',
      });
    }
    opts.log.info(`image ${image}: ${digest} ok`, { step: 'post-launch' });
  }
}

/**
 * Reads a file digest manifest: sha256sum output ("<hex>  <path>", "*" for
 * binary mode) or a YAML/JSON mapping path → [sha256:]hex. Paths are
 * relative to the step's `in` directory, or absolute.
 */
export async function loadFileDigests(file: string): Promise<Map<string, string>> {
  const text = await readManifest(file);
  const out = new Map<string, string>();
  const lines = text.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
  if (lines.length && lines.every((l) => /^[0-9a-f]{64} [ *]\S/.test(l))) {
    for (const line of lines) out.set(line.slice(66), line.slice(0, 64));
    return out;
  }
  let data: unknown;
  try {
    data = parse(text);
  } catch {
    data = undefined;
  }
  if (!isRecord(data))
    throw new IngotError(ErrorCode.manifestInvalid, `${file}: expected sha256sum lines ("<hex>  <path>") or a mapping of path → sha256`, {
      path: file,
      exitCode: ExitCode.usage,
    });
  for (const [name, digest] of Object.entries(data)) {
    const hex = String(digest).replace(/^sha256:/, '');
    if (!/^[0-9a-f]{64}$/.test(hex))
      throw new IngotError(ErrorCode.manifestInvalid, `${file}: digest of ${name} is not sha256:<64 hex>`, { path: file, exitCode: ExitCode.usage });
    out.set(name, hex);
  }
  return out;
}

/** Hashes the listed files in the guest (one sha256sum run) and compares. */
export async function verifyFiles(
  instance: Instance,
  expected: Map<string, string>,
  dir: string,
  opts: { timeoutMs: number; signal?: AbortSignal; log: Logger; dry?: boolean },
): Promise<void> {
  const names = [...expected.keys()];
  const r = await instance.exec(['sh', '-c', 'cd -- "$1" && shift && sha256sum -- "$@"', 'ingot-verify', dir, ...names], opts);
  if (opts.dry) return;
  const actual = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const m = /^\\?([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (m) actual.set(m[2]!, m[1]!);
  }
  for (const [name, hex] of expected) {
    const got = actual.get(name);
    if (!got) {
      throw new IngotError(ErrorCode.digestMismatch, `${path.posix.join(dir, name)} is missing or unreadable on ${instance.name}${tailOf(r.stderr)}`, {
        path: path.posix.join(dir, name),
        expected: `sha256:${hex}`,
        hint: 'fetch it in a step before verify-files',
      });
    }
    if (got !== hex) {
      throw new IngotError(ErrorCode.digestMismatch, `${path.posix.join(dir, name)}: digest mismatch on ${instance.name}`, {
        path: path.posix.join(dir, name),
        expected: `sha256:${hex}`,
        actual: `sha256:${got}`,
        hint: 'the file is not the one the manifest pins: do not use it; fetch it again or update the manifest',
      });
    }
  }
  opts.log.info(`${expected.size} file(s) in ${dir}: digests ok`, { step: 'post-launch' });
}

async function readManifest(file: string): Promise<string> {
  return readFile(file, 'utf8').catch((error: unknown) => {
    throw new IngotError(ErrorCode.manifestInvalid, `digest manifest not found: ${file}`, { path: file, exitCode: ExitCode.usage, cause: error });
  });
}

// The failure of step i, keeping the inner error's code and fields.
function stepError(error: IngotError, vm: string, i: number, total: number, step: Step, attempts: number): IngotError {
  return new IngotError(
    error.code,
    `post-launch step ${i + 1}/${total} (${describeStep(step)}) failed on ${vm} after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${error.message}`,
    {
      ...(error.hint ? { hint: error.hint } : {}),
      ...(error.path ? { path: error.path } : {}),
      ...(error.image ? { image: error.image } : {}),
      ...(error.expected ? { expected: error.expected } : {}),
      ...(error.actual ? { actual: error.actual } : {}),
      exitCode: error.exitCode,
      cause: error,
      details: { ...error.details, step: i + 1, steps: total, kind: step.kind, attempts },
    },
  );
}

function tailOf(text: string): string {
  const t = text.trim().split('\n').slice(-10).join('\n');
  return t ? `:\n${t}` : '';
}

// A multi-line failure as one log line: "exit 1: <last line of its output>".
function oneLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const line = lines.length > 1 ? `${lines[0]} ${lines.at(-1)}` : (lines[0] ?? '');
  return line.length > 240 ? `${line.slice(0, 237)}…` : line;
}
