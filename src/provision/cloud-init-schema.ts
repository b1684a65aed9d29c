/**
 * Cloud-init's own check, `cloud-init schema --config-file FILE`, when the
 * tool is installed. Its messages name a key path ("packages: 3 is not of
 * type 'array'") or a format position ("format-l2.c11"); both are mapped to
 * file:line:col so they read like ingot's own problems.
 */
import { run } from '../exec/run.js';
import { which } from '../exec/which.js';
import { parseYaml, positionOf } from '../manifest/yaml.js';
import type { Problem } from '../manifest/problems.js';

/** Whether `cloud-init` is on PATH. */
export function cloudInitAvailable(env: NodeJS.ProcessEnv = process.env): boolean {
  return which('cloud-init', env) !== undefined;
}

/** Runs cloud-init's schema check on `file`; [] when valid. */
export async function cloudInitSchema(file: string, text: string, opts: { signal?: AbortSignal } = {}): Promise<Problem[]> {
  const result = await run('cloud-init', ['schema', '--config-file', file], { reject: false, timeoutMs: 120_000, signal: opts.signal });
  if (result.exitCode === 0) return [];
  return parseSchemaOutput(`${result.stdout}\n${result.stderr}`, file, text);
}

/** Turns cloud-init schema output into problems with positions. */
export function parseSchemaOutput(output: string, file: string, text: string): Problem[] {
  const problems: Problem[] = [];
  const parsed = parseYaml(text, file);
  const match = /Cloud config schema errors: ([\s\S]*)/.exec(output);
  if (!match) {
    const body = output.trim() || 'cloud-init schema failed without output';
    return [{ code: 'cloud-init-schema', severity: 'error', message: body.split('\n').slice(0, 5).join(' '), file, line: 1, column: 1, path: [] }];
  }
  const body = match[1]!.trim();
  const format = /^format-l(\d+)\.c(\d+): (.*)/s.exec(body);
  if (format) {
    return [{ code: 'cloud-init-schema', severity: 'error', message: format[3]!.split('\n')[0]!, file, line: Number(format[1]), column: Number(format[2]), path: [] }];
  }
  // "a.0.b: message, c: message" — split before each "path: ".
  for (const entry of body.split(/, (?=[\w.-]+: )/)) {
    const colon = entry.indexOf(': ');
    const keyPath = colon > 0 ? entry.slice(0, colon) : '';
    const where = keyPath ? keyPath.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p)) : [];
    const { line, column } = parsed.problems.length ? { line: 1, column: 1 } : positionOf(parsed, where);
    problems.push({ code: 'cloud-init-schema', severity: 'error', message: `cloud-init schema: ${entry.trim()}`, file, line, column, path: where });
  }
  return problems;
}
