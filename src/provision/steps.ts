/**
 * Post-launch steps: what `ingot launch` does from the host once cloud-init
 * reported success, as an ordered list in the profile (`launch:`). Each item
 * is a mapping with exactly one step key — its value is the step's main
 * argument — plus the options every step takes:
 *
 *   launch:
 *     - transfer: ./bundle          # host path, relative to the profile file
 *       to: /opt/polis
 *     - run: cd /opt/polis && docker compose pull
 *       retries: 3
 *       delay: 10
 *     - verify-digests: ./image-digests.json
 *     - run: cd /opt/polis && docker compose up -d
 *     - health: curl -fsS http://127.0.0.1:8080/health
 *
 * `timeout` bounds one attempt (seconds), `retries` is how many more
 * attempts follow a failed one, `delay` the seconds between attempts. The
 * defaults per kind are in STEP_DEFAULTS (a health check polls: 30 retries,
 * 2 s apart). Lists from included profiles are appended in include order.
 */
import * as path from 'node:path';
import { suggest } from '../manifest/problems.js';

/** Options every step has, after defaults were applied. */
export interface StepOptions {
  /** Shown in logs and errors (default: derived from the step). */
  name?: string;
  /** Seconds one attempt may take. */
  timeout: number;
  /** Further attempts after a failed one. */
  retries: number;
  /** Seconds between attempts. */
  delay: number;
}

/** One post-launch step. */
export type Step = StepOptions &
  (
    | { kind: 'transfer'; from: string; to: string; owner?: string }
    | { kind: 'run'; command: string }
    | { kind: 'pull-images'; compose?: string; images?: string[] }
    | { kind: 'verify-digests'; manifest: string }
    | { kind: 'verify-files'; manifest: string; in: string }
    | { kind: 'health'; command: string }
    | { kind: 'reboot' }
  );

/** The step kinds, in the order the docs list them. */
export const STEP_KINDS = ['transfer', 'run', 'pull-images', 'verify-digests', 'verify-files', 'health', 'reboot'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

/** Defaults per kind: timeout (s), retries, delay (s). */
export const STEP_DEFAULTS = {
  transfer: { timeout: 300, retries: 0, delay: 5 },
  run: { timeout: 600, retries: 0, delay: 5 },
  'pull-images': { timeout: 900, retries: 0, delay: 10 },
  'verify-digests': { timeout: 120, retries: 0, delay: 5 },
  'verify-files': { timeout: 120, retries: 0, delay: 5 },
  health: { timeout: 10, retries: 30, delay: 2 },
  reboot: { timeout: 600, retries: 0, delay: 5 },
} as const satisfies Record<StepKind, { timeout: number; retries: number; delay: number }>;

const COMMON = ['name', 'timeout', 'retries', 'delay'];
const OPTIONS: Record<StepKind, string[]> = {
  transfer: ['to', 'owner'],
  run: [],
  'pull-images': [],
  'verify-digests': [],
  'verify-files': ['in'],
  health: [],
  reboot: [],
};

/** Reports a problem at a path inside the profile (throws). */
export type Fail = (message: string, where: (string | number)[], hint?: string) => never;

/** Parses `launch:` of the profile in `file`; `fail` throws with file:line. */
export function parseSteps(raw: unknown, file: string, fail: Fail): Step[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    const old = typeof raw === 'object' && raw !== null && ['bundle', 'commands', 'imageDigests', 'health'].some((k) => k in raw);
    return fail(
      'launch must be an ordered list of steps',
      ['launch'],
      old
        ? 'the bundle/commands/imageDigests/health mapping became a list: - transfer: DIR (to: DEST), - run: CMD, - verify-digests: FILE, - health: CMD'
        : 'for example: launch: [{transfer: ./bundle, to: /opt/app}, {run: systemctl start app}, {health: curl -fsS http://127.0.0.1:8080/}]',
    );
  }
  const base = path.dirname(file);
  return raw.map((item, i) => parseStep(item, i, base, fail));
}

function parseStep(item: unknown, i: number, base: string, fail: Fail): Step {
  const at = (...rest: (string | number)[]) => ['launch', i, ...rest];
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return fail('a step must be a mapping such as {run: COMMAND}', at());
  const step = item as Record<string, unknown>;
  const kinds = Object.keys(step).filter((k) => (STEP_KINDS as readonly string[]).includes(k)) as StepKind[];
  if (kinds.length !== 1) {
    const unknown = Object.keys(step).find((k) => !COMMON.includes(k) && !Object.values(OPTIONS).flat().includes(k));
    const guess = unknown ? suggest(unknown, STEP_KINDS) : undefined;
    return fail(
      kinds.length
        ? `a step has exactly one kind, got ${kinds.join(' and ')}`
        : `a step needs one of ${STEP_KINDS.join(', ')}${unknown ? `; got "${unknown}"${guess ? ` (did you mean "${guess}"?)` : ''}` : ''}`,
      at(),
    );
  }
  const kind = kinds[0]!;
  for (const key of Object.keys(step)) {
    if (key === kind || COMMON.includes(key) || OPTIONS[kind].includes(key)) continue;
    const guess = suggest(key, [...COMMON, ...OPTIONS[kind]]);
    fail(
      `unknown option "${key}" for a ${kind} step${guess ? `; did you mean "${guess}"?` : ''}`,
      at(key),
      `${kind} takes: ${[...OPTIONS[kind], ...COMMON].join(', ')}`,
    );
  }
  const defaults = STEP_DEFAULTS[kind];
  const num = (key: 'timeout' | 'retries' | 'delay', min: number) => {
    const value = step[key];
    if (value === undefined) return defaults[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min)
      fail(`${key} must be a whole number ≥ ${min} (seconds for timeout and delay)`, at(key));
    return value as number;
  };
  const options: StepOptions = {
    ...(step.name !== undefined ? { name: text(step.name, at('name'), 'name', fail) } : {}),
    timeout: num('timeout', 1),
    retries: num('retries', 0),
    delay: num('delay', 0),
  };
  const value = step[kind];
  const hostPath = (v: unknown) => path.resolve(base, text(v, at(kind), `${kind} (a file path)`, fail));
  const guestPath = (v: unknown, key: string) => {
    const p = text(v, at(key), key, fail);
    if (!p.startsWith('/')) fail(`${key} must be an absolute path in the guest, got "${p}"`, at(key));
    return path.posix.normalize(p);
  };
  switch (kind) {
    case 'transfer': {
      if (step.to === undefined) fail('a transfer step needs to: (the absolute destination in the guest)', at());
      const owner = step.owner === undefined ? undefined : text(step.owner, at('owner'), 'owner', fail);
      if (owner !== undefined && !/^[a-z_][a-z0-9_-]*(:[a-z_][a-z0-9_-]*)?$/i.test(owner))
        fail(`owner must be USER or USER:GROUP, got "${owner}"`, at('owner'));
      return { kind, ...options, from: hostPath(value), to: guestPath(step.to, 'to'), ...(owner ? { owner } : {}) };
    }
    case 'run':
    case 'health':
      return { kind, ...options, command: text(value, at(kind), `${kind} (a shell command)`, fail) };
    case 'pull-images': {
      if (Array.isArray(value)) {
        if (!value.length || !value.every((v) => typeof v === 'string' && v.length > 0))
          fail('pull-images takes a compose file path or a list of image references', at(kind));
        return { kind, ...options, images: value as string[] };
      }
      return { kind, ...options, compose: guestPath(value, kind) };
    }
    case 'verify-digests':
      return { kind, ...options, manifest: hostPath(value) };
    case 'verify-files':
      return { kind, ...options, manifest: hostPath(value), in: step.in === undefined ? '/' : guestPath(step.in, 'in') };
    case 'reboot':
      if (value !== true && value !== null) fail('write a reboot step as "- reboot: true"', at(kind));
      return { kind, ...options };
  }
}

/** A short description of a step for logs and errors. */
export function describeStep(step: Step): string {
  if (step.name) return step.name;
  switch (step.kind) {
    case 'transfer':
      return `transfer ${path.basename(step.from)} → ${step.to}`;
    case 'run':
    case 'health':
      return `${step.kind}: ${firstLine(step.command)}`;
    case 'pull-images':
      return step.compose ? `pull-images ${step.compose}` : `pull-images ${step.images!.join(' ')}`;
    case 'verify-digests':
      return `verify-digests ${path.basename(step.manifest)}`;
    case 'verify-files':
      return `verify-files ${path.basename(step.manifest)} in ${step.in}`;
    case 'reboot':
      return 'reboot';
  }
}

function firstLine(command: string): string {
  const line = command.trim().split('\n')[0] ?? '';
  return line.length > 60 ? `${line.slice(0, 57)}…` : line;
}

function text(value: unknown, where: (string | number)[], what: string, fail: Fail): string {
  if (typeof value !== 'string' || !value.trim()) return fail(`${what} must be a non-empty string`, where);
  return value;
}
