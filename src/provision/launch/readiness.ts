/**
 * Readiness: `cloud-init status --wait --long` in the guest, and what its
 * exit code means.
 *   0 — done: ready.
 *   1 — critical failure ("status: error"; Debian 12's cloud-init 22.4 also
 *       reports a failing runcmd this way).
 *   2 — degraded: recoverable errors (cloud-init ≥ 23.4).
 * Any non-zero fails the launch, with the status output, its `detail`, where
 * the log is and how to retry.
 */
import { ErrorCode, IngotError } from '../../errors.js';
import type { Instance } from './backend.js';

/** Where cloud-init writes the output of every stage, in the guest. */
export const CLOUD_INIT_OUTPUT_LOG = '/var/log/cloud-init-output.log';

/** The readiness command, as run in the guest. */
export const STATUS_ARGV = ['cloud-init', 'status', '--wait', '--long'] as const;

/** A parsed `cloud-init status --long`. */
export interface CloudInitStatus {
  exitCode: number;
  state: 'ready' | 'error' | 'degraded' | 'unknown';
  /** The `status:` value ("done", "error", …). */
  status: string | undefined;
  /** The `detail:` text (may span lines). */
  detail: string | undefined;
  /** `errors:` / `recoverable_errors:` (cloud-init ≥ 23.4), when not empty. */
  errors: string | undefined;
  output: string;
}

/** Interprets exit code and output of `cloud-init status --wait --long`. */
export function interpretStatus(exitCode: number, output: string): CloudInitStatus {
  const fields = statusFields(output);
  const status = fields.get('status');
  const detail = fields.get('detail') || undefined;
  const errors =
    ['errors', 'recoverable_errors']
      .map((key) => fields.get(key))
      .filter((v): v is string => Boolean(v) && v !== '[]' && v !== '{}')
      .join('\n') || undefined;
  const state = exitCode === 0 ? 'ready' : exitCode === 1 ? 'error' : exitCode === 2 ? 'degraded' : 'unknown';
  return { exitCode, state, status, detail, errors, output };
}

const STATUS_KEYS = new Set(['status', 'extended_status', 'boot_status_code', 'last_update', 'detail', 'errors', 'recoverable_errors']);

// Splits `status --long` output into its known keys; values may span lines
// (detail on the next line in 22.4, nested WARNING: lists under recoverable_errors).
function statusFields(output: string): Map<string, string> {
  const fields = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of output.split('\n')) {
    const m = /^([a-z_]+):\s*(.*)$/.exec(line);
    if (m && STATUS_KEYS.has(m[1]!)) {
      current = m[2] ? [m[2]] : [];
      fields.set(m[1]!, current);
    } else if (current && line.trim()) {
      current.push(line.trim());
    }
  }
  return new Map([...fields].map(([k, v]) => [k, v.join('\n').trim()]));
}

/** Waits for cloud-init in `instance`; throws INGOT_CLOUD_INIT_FAILED unless it reports done. */
export async function waitForCloudInit(instance: Instance, opts: { timeoutMs: number; signal?: AbortSignal; retry: string }): Promise<CloudInitStatus> {
  const r = await instance.exec([...STATUS_ARGV], { timeoutMs: opts.timeoutMs, signal: opts.signal });
  if (r.timedOut) {
    throw new IngotError(ErrorCode.launchTimeout, `cloud-init did not finish on ${instance.name} within the launch timeout`, {
      hint: `read ${CLOUD_INIT_OUTPUT_LOG} in the guest; raise --timeout or fix the user-data, then ${opts.retry}`,
    });
  }
  const result = interpretStatus(r.exitCode, `${r.stdout}${r.stderr ? `\n${r.stderr}` : ''}`.trim());
  if (result.state === 'ready') return result;
  let logTail = '';
  try {
    logTail = (await instance.readFile(CLOUD_INIT_OUTPUT_LOG)).toString('utf8').trimEnd().split('\n').slice(-25).join('\n');
  } catch {
    // The log is a courtesy; the status output already says what failed.
  }
  const what = result.state === 'degraded' ? 'degraded (recoverable errors)' : result.state === 'error' ? 'failed' : `failed (exit ${r.exitCode})`;
  const lines = [`cloud-init ${what} on ${instance.name}: status: ${result.status ?? '?'} (exit ${r.exitCode})`];
  if (result.detail) lines.push(`detail: ${result.detail}`);
  if (result.errors) lines.push(`errors: ${result.errors}`);
  if (logTail) lines.push(`last lines of ${CLOUD_INIT_OUTPUT_LOG}:`, ...logTail.split('\n').map((l) => `  ${l}`));
  throw new IngotError(ErrorCode.cloudInitFailed, lines.join('\n'), {
    hint: `the full log is ${CLOUD_INIT_OUTPUT_LOG} in the guest (and \`cloud-init status --long\`); fix the profile, then ${opts.retry}`,
    details: { exitCode: r.exitCode, status: result.status, detail: result.detail, errors: result.errors, output: result.output },
  });
}
