/**
 * Cloud-init's own check, `cloud-init schema --config-file FILE`, when the
 * tool is installed. Its messages name a key path ("packages: 3 is not of
 * type 'array'") or a format position ("format-l2.c11"); both are mapped to
 * file:line:col so they read like ingot's own problems.
 *
 * The installed cloud-init is often older than the config (Debian 12 ships
 * 22.4; `rpi`, `ansible.pull` lists or `packages: [{apt: …}]` came later).
 * `reconcileSchemaProblems` weighs its verdict against ingot's schema data:
 * what ingot already reports is not repeated, and what only an older
 * cloud-init refuses becomes a warning naming its version.
 */
import { run } from '../exec/run.js';
import { which } from '../exec/which.js';
import type { Problem } from '../manifest/problems.js';
import { loadYaml11, type Pos, type YNode } from './cloud-init/yaml11.js';

/** Whether `cloud-init` is on PATH. */
export function cloudInitAvailable(env: NodeJS.ProcessEnv = process.env): boolean {
  return which('cloud-init', env) !== undefined;
}

/** The installed cloud-init's version ("22.4.2"), or undefined when it cannot tell. */
export async function cloudInitVersion(opts: { signal?: AbortSignal } = {}): Promise<string | undefined> {
  const result = await run('cloud-init', ['--version'], { reject: false, timeoutMs: 60_000, signal: opts.signal });
  return parseCloudInitVersion(`${result.stdout}\n${result.stderr}`);
}

/** "/usr/bin/cloud-init 22.4.2" → "22.4.2". */
export function parseCloudInitVersion(output: string): string | undefined {
  return /\b(\d{2}\.\d+(?:\.\d+)?)\b/.exec(output)?.[1];
}

/** -1, 0 or 1 as `a` is older than, equal to or newer than `b` ("22.4.2" vs "25.3"). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/** Runs cloud-init's schema check on `file`; [] when valid. */
export async function cloudInitSchema(file: string, text: string, opts: { signal?: AbortSignal } = {}): Promise<Problem[]> {
  const result = await run('cloud-init', ['schema', '--config-file', file], { reject: false, timeoutMs: 120_000, signal: opts.signal });
  if (result.exitCode === 0) return [];
  return parseSchemaOutput(`${result.stdout}\n${result.stderr}`, file, text);
}

/** Turns cloud-init schema output into problems with positions. */
export function parseSchemaOutput(output: string, file: string, text: string): Problem[] {
  const match = /Cloud config schema errors: ([\s\S]*)/.exec(output);
  if (!match) {
    const body = output.trim() || 'cloud-init schema failed without output';
    return [{ code: 'cloud-init-schema', severity: 'error', message: body.split('\n').slice(0, 5).join(' '), file, line: 1, column: 1, path: [] }];
  }
  const body = match[1]!.trim();
  const format = /^format-l(\d+)\.c(\d+): (.*)/s.exec(body);
  if (format) {
    return [
      { code: 'cloud-init-schema', severity: 'error', message: format[3]!.split('\n')[0]!, file, line: Number(format[1]), column: Number(format[2]), path: [] },
    ];
  }
  const root = loadYaml11(text).root;
  const problems: Problem[] = [];
  // "a.0.b: message, c: message" — split before each "path: " (paths may hold "/" or "-").
  for (const entry of body.split('\n')[0]!.split(/, (?=[^\s,:'"[\]{}()]+: )/)) {
    const colon = entry.indexOf(': ');
    const dotted = colon > 0 ? entry.slice(0, colon) : '';
    const { path, pos } = root ? resolveDotted(root, dotted) : { path: [], pos: { line: 1, column: 1 } };
    problems.push({
      code: 'cloud-init-schema',
      severity: 'error',
      message: `cloud-init schema: ${entry.trim()}`,
      file,
      line: pos.line,
      column: pos.column,
      path,
    });
  }
  return problems;
}

/**
 * Maps cloud-init's dotted path ("disk_setup./dev/xvdh.layout") onto the
 * document: at each mapping the longest run of segments naming a key wins,
 * so keys holding dots resolve too.
 */
function resolveDotted(root: YNode, dotted: string): { path: (string | number)[]; pos: Pos } {
  const segments = dotted ? dotted.split('.') : [];
  const path: (string | number)[] = [];
  let node = root;
  let pos: Pos = { line: root.line, column: root.column };
  let i = 0;
  while (i < segments.length) {
    if (node.kind === 'map') {
      let found = false;
      for (let j = segments.length; j > i; j--) {
        const name = segments.slice(i, j).join('.');
        const entry = [...node.entries.values()].find((e) => e.name === name);
        if (entry) {
          path.push(name);
          node = entry.value;
          pos = node.kind === 'null' && node.empty ? entry.key : node;
          i = j;
          found = true;
          break;
        }
      }
      if (!found) break;
    } else if (node.kind === 'seq' && /^\d+$/.test(segments[i]!) && node.items[Number(segments[i])]) {
      path.push(Number(segments[i]));
      node = node.items[Number(segments[i])]!;
      pos = node;
      i++;
    } else {
      break;
    }
  }
  return { path, pos: { line: pos.line, column: pos.column } };
}

/**
 * Merges cloud-init's verdict into ingot's problems. A cloud-init error on a
 * path where ingot already reports an error is dropped (ingot's says more);
 * one that ingot's schema data does not share is an error when the installed
 * cloud-init is as new as that data, and a warning naming the installed
 * version when it is older (its schema predates keys the config uses).
 */
export function reconcileSchemaProblems(ingot: Problem[], host: Problem[], hostVersion: string | undefined, schemaVersion: string): Problem[] {
  const errors = ingot.filter((p) => p.severity === 'error');
  const related = (a: (string | number)[], b: (string | number)[]) => {
    const n = Math.min(a.length, b.length);
    return a.slice(0, n).every((part, i) => String(part) === String(b[i]));
  };
  const older = hostVersion === undefined || compareVersions(hostVersion, schemaVersion) < 0;
  const out: Problem[] = [];
  for (const p of host) {
    if (errors.some((e) => related(e.path, p.path))) continue;
    if (older) {
      out.push({
        ...p,
        code: 'cloud-init-older',
        severity: 'warning',
        message: `cloud-init ${hostVersion ?? '(unknown version)'} (installed) refuses this, but its schema is older than ingot's (${schemaVersion}), which accepts it: ${p.message.replace(/^cloud-init schema: /, '')}`,
        hint: `the cloud-init in the image decides: make sure it is ${schemaVersion} or newer, or drop the newer key`,
      });
    } else {
      out.push(p);
    }
  }
  return out;
}
