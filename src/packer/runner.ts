/**
 * Running `packer build` the disciplined way: argv without values, variables
 * as PKR_VAR_* environment, UI lines streamed live to the logger with
 * sensitive values scrubbed, the artifact lines collected, and on Ctrl-C a
 * SIGINT (packer cleans up its instances) then SIGKILL after a grace period.
 * A failed build's error carries the tail of its output.
 */
import { ErrorCode, IngotError } from '../errors.js';
import { run, type RunResult } from '../exec/run.js';
import { which } from '../exec/which.js';
import { scrub, type Logger } from '../log/logger.js';
import { SECRET_NAME, type OnError } from './vars.js';
import { ArtifactCollector, escapeField, parseMachineLine, uiText, type PackerArtifact } from './machine-readable.js';

export { ON_ERROR, type OnError } from './vars.js';

/** Default time packer gets to clean up after SIGINT before SIGKILL. */
export const DEFAULT_GRACE_MS = 15_000;

/** Options for one `packer build`. */
export interface PackerBuildOptions {
  /** Template directory; packer runs with it as cwd and "." as the template. */
  dir: string;
  variables?: Readonly<Record<string, string>>;
  /** Names of variables whose values are scrubbed from every line and error. */
  sensitive?: ReadonlySet<string>;
  only?: readonly string[];
  onError?: OnError;
  /** Pass -force (packer deletes existing artifacts of the build). */
  force?: boolean;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** UI lines go here (info; errors as warn); other events at debug. */
  log: Logger;
  /** SIGINT → SIGKILL delay (default 15 s). */
  graceMs?: number;
  /** Lines of output kept for a failure's message (default 30). */
  tailLines?: number;
}

/** A finished build. */
export interface PackerBuildResult {
  artifacts: PackerArtifact[];
  durationMs: number;
}

/** Environment variables naming a template variable, e.g. PKR_VAR_region. */
export function variableEnv(variables: Readonly<Record<string, string>> = {}): Record<string, string> {
  return Object.fromEntries(Object.entries(variables).map(([name, value]) => [`PKR_VAR_${name}`, value]));
}

/** Template variables already set in an environment as PKR_VAR_<name>. */
export function environmentVariables(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (key.startsWith('PKR_VAR_') && value !== undefined) out[key.slice('PKR_VAR_'.length)] = value;
  return out;
}

/** The argv of a build: never any variable value, only flags and ".". */
export function packerBuildArgs(options: Pick<PackerBuildOptions, 'only' | 'onError' | 'force'>): string[] {
  const args = ['build', '-machine-readable', '-color=false'];
  if (options.only && options.only.length > 0) args.push(`-only=${options.only.join(',')}`);
  if (options.onError) args.push(`-on-error=${options.onError}`);
  if (options.force) args.push('-force');
  args.push('.');
  return args;
}

/** The secret strings to scrub: each sensitive value as written and as packer escapes it. */
export function secretValues(variables: Readonly<Record<string, string>> = {}, sensitive: ReadonlySet<string> = new Set()): string[] {
  const out = new Set<string>();
  for (const name of sensitive) {
    const value = variables[name];
    if (value === undefined || value.length === 0) continue;
    out.add(value);
    out.add(escapeField(value));
    for (const line of value.split(/\r?\n/)) if (line.length >= 4) out.add(line);
  }
  return [...out].sort((a, b) => b.length - a.length);
}

/** Environment packer runs with: the caller's, no update check, plus PKR_VAR_*. */
export function packerEnv(env: NodeJS.ProcessEnv = process.env, variables?: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  return { ...env, CHECKPOINT_DISABLE: '1', ...variableEnv(variables) };
}

function interrupted(options: PackerBuildOptions, tail: readonly string[], cause: unknown): IngotError {
  return new IngotError(ErrorCode.aborted, 'packer build was interrupted', { cause, path: options.dir, details: { tail: [...tail] } });
}

/** Runs `packer build`; resolves with the artifacts or rejects with INGOT_PACKER_BUILD_FAILED / INGOT_ABORTED. */
export async function runPackerBuild(options: PackerBuildOptions): Promise<PackerBuildResult> {
  // Variables may also come from the caller's own PKR_VAR_* environment (how
  // secrets stay out of the manifest); sensitive names cover those values too.
  const fromEnv = environmentVariables(options.env ?? process.env);
  const sensitive = new Set([...(options.sensitive ?? []), ...Object.keys(fromEnv).filter((n) => SECRET_NAME.test(n))]);
  const secrets = secretValues({ ...fromEnv, ...options.variables }, sensitive);
  const tailSize = options.tailLines ?? 30;
  const tail: string[] = [];
  const collector = new ArtifactCollector();
  const buildErrors: string[] = [];
  const remember = (line: string) => {
    tail.push(line);
    if (tail.length > tailSize) tail.shift();
  };

  const onLine = (raw: string, stream: 'stdout' | 'stderr') => {
    const event = parseMachineLine(raw);
    if (!event) {
      const text = scrub(raw, secrets);
      if (text.trim() === '') return;
      remember(text);
      if (stream === 'stderr') options.log.warn(text, { step: 'packer' });
      else options.log.info(text, { step: 'packer' });
      return;
    }
    collector.add(event);
    if (event.type === 'error' && event.data[0]) buildErrors.push(scrub(`${event.target ? `${event.target}: ` : ''}${event.data.join(',')}`, secrets));
    const ui = uiText(event);
    if (!ui) {
      options.log.debug(scrub(`${event.type} ${event.data.join(' ')}`, secrets), { step: 'packer', target: event.target || undefined });
      return;
    }
    for (const line of scrub(ui.text, secrets).split('\n')) {
      if (line.trim() === '') continue;
      remember(line);
      if (ui.kind === 'error') options.log.warn(line, { step: 'packer' });
      else options.log.info(line, { step: 'packer' });
    }
  };

  // Packer expects Ctrl-C to reach its whole process group (its panicwrap
  // parent ignores SIGINT; shell-local children must see it too), the way a
  // terminal delivers it. So packer runs in its own session via setsid, a
  // constant two-command sh prints the group id, and the abort path signals
  // the group: SIGINT, then SIGKILL after the grace period.
  const group = which('setsid', options.env ?? process.env) ? { pgid: 0 } : undefined;
  const command = group ? 'setsid' : 'packer';
  const args = group ? ['sh', '-c', 'echo "$$" >&2; exec "$@"', 'sh', 'packer', ...packerBuildArgs(options)] : packerBuildArgs(options);
  if (options.signal?.aborted) throw interrupted(options, tail, options.signal.reason);
  let killTimer: NodeJS.Timeout | undefined;
  const signalGroup = (sig: NodeJS.Signals) => {
    try {
      if (group?.pgid) process.kill(-group.pgid, sig);
    } catch {
      // already gone
    }
  };
  // Runs once the abort was requested AND the group id is known, whichever comes last.
  const onAbort = () => {
    if (!group?.pgid || killTimer) return;
    signalGroup('SIGINT');
    killTimer = setTimeout(() => signalGroup('SIGKILL'), options.graceMs ?? DEFAULT_GRACE_MS);
    killTimer.unref();
  };
  if (group) options.signal?.addEventListener('abort', onAbort, { once: true });

  let result: RunResult;
  try {
    result = await run(command, args, {
      cwd: options.dir,
      env: packerEnv(options.env, options.variables),
      // Without setsid, fall back to signalling packer alone.
      ...(group ? {} : { signal: options.signal, killSignal: 'SIGINT' as const, graceMs: options.graceMs ?? DEFAULT_GRACE_MS }),
      secrets,
      onLine: group
        ? (line, stream) => {
            if (stream === 'stderr' && group.pgid === 0 && /^\d+$/.test(line)) {
              group.pgid = Number(line);
              if (options.signal?.aborted) onAbort();
              return;
            }
            onLine(line, stream);
          }
        : onLine,
      reject: false,
    });
  } catch (error) {
    if (error instanceof IngotError && error.code === ErrorCode.aborted) throw interrupted(options, tail, error.cause);
    throw error;
  } finally {
    clearTimeout(killTimer);
    options.signal?.removeEventListener('abort', onAbort);
  }
  if (options.signal?.aborted) throw interrupted(options, tail, options.signal.reason);
  if (result.exitCode !== 0) {
    const how = result.signal ? `signal ${result.signal}` : `exit code ${result.exitCode}`;
    const reason = buildErrors.length ? ` (${buildErrors.join('; ')})` : '';
    throw new IngotError(ErrorCode.packerBuildFailed, `packer build failed with ${how}${reason}${tail.length ? `; last lines:\n${tail.join('\n')}` : ''}`, {
      path: options.dir,
      hint: 'fix the template or its variables; `ingot packer validate DIR` checks it without building',
      details: { exitCode: result.exitCode, signal: result.signal, errors: buildErrors, tail: [...tail] },
    });
  }
  return { artifacts: collector.list(), durationMs: result.durationMs };
}

const versionCache = new Map<string, Promise<string>>();

/** Packer's version ("1.6.6"), cached per PATH; rejects with INGOT_TOOL_MISSING when absent. */
export function packerVersion(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const key = env.PATH ?? '';
  let cached = versionCache.get(key);
  if (!cached) {
    cached = run('packer', ['version'], { env: packerEnv(env), timeoutMs: 30_000 }).then((r) => parsePackerVersion(r.stdout));
    cached.catch(() => versionCache.delete(key));
    versionCache.set(key, cached);
  }
  return cached;
}

/** The version from `packer version` output ("Packer v1.6.6" or "1.11.2"). */
export function parsePackerVersion(output: string): string {
  const match = /v?(\d+\.\d+\.\d+[\w.+-]*)/.exec(output);
  if (!match) throw new IngotError(ErrorCode.toolFailed, `cannot read the packer version from: ${output.trim().slice(0, 200)}`);
  return match[1]!;
}
