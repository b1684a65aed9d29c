/**
 * Runs a GitHub Actions job's steps here, the way the runner does for the
 * parts that are ours: `run:` steps in order with `bash --noprofile --norc
 * -eo pipefail`, the workflow's, job's and step's `env:` with their
 * `${{ }}` expressions evaluated, `if:` conditions (default success()), and
 * the job stopping at the first failed step (steps with always() still run).
 * `uses:` steps are not run: the caller stands in for them (the checkout is
 * the working directory; node and packer are on PATH) and checks their inputs.
 *
 * The expression evaluator covers what workflows like ours use: contexts
 * (secrets, inputs, github, env, vars), string/number/boolean/null literals,
 * ==, !=, &&, ||, !, parentheses, and success()/failure()/always()/cancelled().
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Workflow {
  env?: Record<string, unknown>;
  jobs: Record<string, Job>;
  [key: string]: unknown;
}
export interface Job {
  env?: Record<string, unknown>;
  steps: Step[];
  [key: string]: unknown;
}
export interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  env?: Record<string, unknown>;
  with?: Record<string, unknown>;
  shell?: string;
}

export interface Contexts {
  secrets: Record<string, string>;
  inputs: Record<string, unknown>;
  github: Record<string, unknown>;
  vars?: Record<string, string>;
}

export interface StepResult {
  name: string;
  kind: 'run' | 'uses';
  ran: boolean;
  code?: number;
  stdout: string;
  stderr: string;
}

export interface RunJobOptions {
  workflow: Workflow;
  job: string;
  contexts: Contexts;
  cwd: string;
  /** The runner's environment (PATH, HOME, RUNNER_TEMP, …). */
  baseEnv: NodeJS.ProcessEnv;
  /** Values that replace workflow/job env entries after evaluation (say why in the test). */
  overrides?: Record<string, string>;
  /** Scratch directory for the step scripts. */
  scratch: string;
  timeoutMs?: number;
}

/** Runs the job; returns every step's result in order (ran: false for skipped ones). */
export async function runJob(options: RunJobOptions): Promise<StepResult[]> {
  const job = options.workflow.jobs[options.job];
  if (!job) throw new Error(`no job ${options.job}`);
  const results: StepResult[] = [];
  let failed = false;
  const baseCtx = { ...options.contexts, env: {} as Record<string, string> };
  const workflowEnv = evaluateEnv(options.workflow.env, baseCtx);
  const jobEnv = evaluateEnv(job.env, { ...baseCtx, env: workflowEnv });
  const inherited = { ...workflowEnv, ...jobEnv, ...options.overrides };
  for (const [i, step] of job.steps.entries()) {
    const name = step.name ?? step.uses ?? `step ${i + 1}`;
    const status = { failed };
    const ctx = { ...baseCtx, env: inherited };
    const condition = step.if === undefined ? 'success()' : step.if;
    if (!truthy(evaluate(stripBraces(condition), ctx, status))) {
      results.push({ name, kind: step.run !== undefined ? 'run' : 'uses', ran: false, stdout: '', stderr: '' });
      continue;
    }
    if (step.run === undefined) {
      results.push({ name, kind: 'uses', ran: true, stdout: '', stderr: '' });
      continue;
    }
    if (step.shell !== undefined && step.shell !== 'bash') throw new Error(`${name}: shell ${step.shell} is not supported here`);
    const stepEnv = evaluateEnv(step.env, ctx);
    const script = join(options.scratch, `step-${i + 1}.sh`);
    writeFileSync(script, step.run);
    const env = { ...options.baseEnv, ...inherited, ...stepEnv };
    const result = await exec('bash', ['--noprofile', '--norc', '-eo', 'pipefail', script], { cwd: options.cwd, env, timeoutMs: options.timeoutMs ?? 600_000 });
    results.push({ name, kind: 'run', ran: true, ...result });
    if (result.code !== 0) failed = true;
  }
  return results;
}

function evaluateEnv(env: Record<string, unknown> | undefined, ctx: Context): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env ?? {})) out[key] = interpolate(String(value), { ...ctx, env: { ...ctx.env, ...out } });
  return out;
}

/** Replaces every ${{ expr }} in a string with its value as the runner renders it. */
export function interpolate(text: string, ctx: Context): string {
  return text.replace(/\$\{\{([\s\S]*?)\}\}/g, (_m, expr: string) => render(evaluate(expr, ctx, { failed: false })));
}

function render(value: unknown): string {
  if (value === null || value === undefined) return '';
  return String(value);
}

function stripBraces(condition: string): string {
  const m = /^\s*\$\{\{([\s\S]*)\}\}\s*$/.exec(condition);
  return m ? m[1]! : condition;
}

type Context = Contexts & { env: Record<string, string> };

export function truthy(value: unknown): boolean {
  return !(value === false || value === null || value === undefined || value === 0 || value === '' || Number.isNaN(value));
}

/** Evaluates one expression. `status.failed`: whether an earlier step failed. */
export function evaluate(expr: string, ctx: Context, status: { failed: boolean }): unknown {
  const tokens = tokenize(expr);
  let pos = 0;
  const peek = () => tokens[pos];
  const next = () => tokens[pos++];
  const expect = (t: string) => {
    if (next() !== t) throw new Error(`expected ${t} in: ${expr}`);
  };
  const or = (): unknown => {
    let left = and();
    while (peek() === '||') {
      next();
      const right = and();
      left = truthy(left) ? left : right;
    }
    return left;
  };
  const and = (): unknown => {
    let left = equality();
    while (peek() === '&&') {
      next();
      const right = equality();
      left = truthy(left) ? right : left;
    }
    return left;
  };
  const equality = (): unknown => {
    const left = unary();
    if (peek() === '==' || peek() === '!=') {
      const op = next();
      const right = unary();
      const same = loose(left) === loose(right);
      return op === '==' ? same : !same;
    }
    return left;
  };
  const unary = (): unknown => {
    if (peek() === '!') {
      next();
      return !truthy(unary());
    }
    return primary();
  };
  const primary = (): unknown => {
    const t = next();
    if (t === undefined) throw new Error(`unexpected end of: ${expr}`);
    if (t === '(') {
      const v = or();
      expect(')');
      return v;
    }
    if (t.startsWith("'")) return t.slice(1, -1).replace(/''/g, "'");
    if (/^-?\d/.test(t)) return Number(t);
    if (t === 'true' || t === 'false') return t === 'true';
    if (t === 'null') return null;
    if (peek() === '(') {
      next();
      expect(')');
      switch (t) {
        case 'success':
          return !status.failed;
        case 'failure':
          return status.failed;
        case 'always':
          return true;
        case 'cancelled':
          return false;
        default:
          throw new Error(`function ${t}() is not supported here`);
      }
    }
    const [head, ...rest] = t.split('.');
    let value: unknown = (ctx as unknown as Record<string, unknown>)[head!];
    if (value === undefined && !['secrets', 'inputs', 'github', 'env', 'vars'].includes(head!)) throw new Error(`unknown context ${head}`);
    for (const part of rest) value = value === null || value === undefined ? undefined : (value as Record<string, unknown>)[part];
    return value ?? null;
  };
  const value = or();
  if (pos !== tokens.length) throw new Error(`trailing tokens in: ${expr}`);
  return value;
}

// GitHub compares loosely: numbers, booleans and strings by value, strings case-insensitively.
function loose(value: unknown): unknown {
  if (typeof value === 'string') return value.toLowerCase();
  return value ?? null;
}

function tokenize(expr: string): string[] {
  const tokens: string[] = [];
  const re = /\s*(?:('(?:[^']|'')*')|(==|!=|&&|\|\||[!()])|([A-Za-z_][A-Za-z0-9_.-]*)|(-?\d+(?:\.\d+)?))/y;
  let at = 0;
  while (expr.slice(at).trim() !== '') {
    re.lastIndex = at;
    const m = re.exec(expr);
    if (!m) throw new Error(`cannot read expression at "${expr.slice(at)}": ${expr}`);
    tokens.push((m[1] ?? m[2] ?? m[3] ?? m[4])!);
    at = re.lastIndex;
  }
  return tokens;
}

function exec(
  cmd: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}
