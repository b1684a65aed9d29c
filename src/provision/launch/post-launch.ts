/**
 * Post-launch steps from the profile, run from the host once cloud-init is
 * done: transfer a bundle (restoring exec bits, which transfers lose), run
 * commands, verify container image digests against a manifest, and health
 * checks retried until their timeout. Every step fails the launch loudly.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { ErrorCode, ExitCode, IngotError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { isRecord, type PostLaunch } from '../profile.js';
import { STRICT } from '../shell.js';
import type { Instance } from './backend.js';

/** Runs the profile's post-launch steps against `instance`. */
export async function runPostLaunch(instance: Instance, steps: PostLaunch, opts: { log: Logger; signal?: AbortSignal; deadline: number }): Promise<void> {
  const left = () => Math.max(1000, opts.deadline - Date.now());
  if (steps.bundle) await transferBundle(instance, steps.bundle, steps.bundleDest ?? '/opt/ingot/bundle', opts.log);
  for (const command of steps.commands ?? []) {
    opts.log.info(`run: ${command}`, { step: 'post-launch' });
    const r = await instance.exec(['bash', '-c', `${STRICT}\n${command}`], { timeoutMs: left(), signal: opts.signal });
    if (r.exitCode !== 0) {
      throw new IngotError(ErrorCode.launchFailed, `post-launch command failed on ${instance.name} (exit ${r.exitCode}): ${command}\n${tail(r.stderr || r.stdout)}`, {
        hint: 'fix the command in the profile\'s launch.commands and launch again',
      });
    }
  }
  if (steps.imageDigests) await verifyImageDigests(instance, await loadDigestManifest(steps.imageDigests), { timeoutMs: left(), signal: opts.signal, log: opts.log });
  for (const check of steps.health ?? []) {
    const timeoutMs = Math.min((check.timeoutSeconds ?? 60) * 1000, left());
    const end = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const r = await instance.exec(['bash', '-c', check.command], { timeoutMs: Math.max(1000, end - Date.now()), signal: opts.signal });
      if (r.exitCode === 0) {
        opts.log.info(`health check ${check.name}: ok`, { step: 'health' });
        break;
      }
      last = tail(r.stderr || r.stdout) || `exit ${r.exitCode}`;
      if (Date.now() + 2000 >= end) {
        throw new IngotError(ErrorCode.healthCheckFailed, `health check "${check.name}" failed on ${instance.name} after ${Math.round(timeoutMs / 1000)} s: ${last}`, {
          hint: `run \`${check.command}\` in the guest to see why; raise timeoutSeconds if the service is just slow`,
        });
      }
      await sleep(2000, undefined, { signal: opts.signal });
    }
  }
}

/** Copies every file under `dir` to `dest`, keeping modes; scripts (#!) are made executable. */
export async function transferBundle(instance: Instance, dir: string, dest: string, log: Logger): Promise<number> {
  const files = await walk(dir);
  for (const file of files) {
    const rel = path.relative(dir, file).split(path.sep).join('/');
    let mode = (await stat(file)).mode & 0o777;
    const head = (await readFile(file)).subarray(0, 2).toString();
    if (head === '#!') mode |= 0o111;
    await instance.copyIn(file, path.posix.join(dest, rel), mode);
  }
  log.info(`bundle: ${files.length} file(s) → ${dest}`, { step: 'post-launch' });
  return files.length;
}

/** Reads a digest manifest: `image-ref: sha256:hex` (YAML or JSON). */
export async function loadDigestManifest(file: string): Promise<Map<string, string>> {
  const data: unknown = parse(await readFile(file, 'utf8'));
  const images = isRecord(data) && isRecord(data.images) ? data.images : data;
  if (!isRecord(images)) throw new IngotError(ErrorCode.manifestInvalid, `${file}: expected a mapping of image → sha256 digest`, { path: file, exitCode: ExitCode.usage });
  const out = new Map<string, string>();
  for (const [image, digest] of Object.entries(images)) {
    const value = String(digest);
    const hex = value.replace(/^sha256:/, '');
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new IngotError(ErrorCode.manifestInvalid, `${file}: digest of ${image} is not sha256:<64 hex>`, { path: file, image, exitCode: ExitCode.usage });
    out.set(image, `sha256:${hex}`);
  }
  return out;
}

/** Checks each image's RepoDigests (docker inspect) contains the expected digest. */
export async function verifyImageDigests(instance: Instance, expected: Map<string, string>, opts: { timeoutMs: number; signal?: AbortSignal; log: Logger }): Promise<void> {
  for (const [image, digest] of expected) {
    const r = await instance.exec(['docker', 'inspect', '--format', '{{json .RepoDigests}}', image], { timeoutMs: opts.timeoutMs, signal: opts.signal });
    if (r.exitCode !== 0) {
      throw new IngotError(ErrorCode.imageDigestMismatch, `image ${image} is not present on ${instance.name}: ${tail(r.stderr)}`, { image, expected: digest, hint: 'pull it in launch.commands before the digest check' });
    }
    if (instance.info.dryRun) continue; // nothing ran: nothing to compare
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
        hint: 'the registry served a different image than the manifest pins; pull by digest (image@sha256:…) or update the manifest',
      });
    }
    opts.log.info(`image ${image}: ${digest} ok`, { step: 'digests' });
  }
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true }).catch((error: unknown) => {
    throw new IngotError(ErrorCode.launchFailed, `bundle directory not found: ${dir}`, { path: dir, exitCode: ExitCode.usage, cause: error });
  });
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(full)));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-10).join('\n');
}
