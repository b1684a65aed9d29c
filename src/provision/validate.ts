/**
 * ingot's user-data validator, as exact as cloud-init's own: the text is read
 * as cloud-init reads it (YAML 1.1 through PyYAML's rules, see
 * cloud-init/yaml11.ts) and checked against every documented module and key
 * (cloud-init/schema-data.ts) at every level — types, allowed values,
 * required keys, unknown keys with "did you mean", deprecations as warnings
 * naming the replacement. A config cloud-init accepts gets no error here.
 *
 * ingot's own stricter rules are warnings, never errors: runcmd/bootcmd
 * without `set -e`, a key given twice (cloud-init keeps the last), two
 * write_files entries for one path. Every problem carries file:line:col.
 */
import type { Problem } from '../manifest/problems.js';
import { checkAgainstSchema, type Issue } from './cloud-init/check.js';
import { cloudConfigSchema } from './cloud-init/schema-data.js';
import { loadYaml11, toPlain, type Pos, type YNode } from './cloud-init/yaml11.js';
import { isRecord } from './profile.js';

/** What the validator found, with the loaded config for callers that want it. */
export interface UserDataReport {
  problems: Problem[];
  /** The config as cloud-init would load it (undefined when it does not load). */
  config?: unknown;
}

const HEADER = '#cloud-config';
const JINJA = /^##\s*template:\s*jinja\s*$/i;
/** Other user-data part types cloud-init recognises by their first line. */
const OTHER_PARTS: [string, string][] = [
  ['#cloud-config-archive', 'a cloud-config archive (a list of parts)'],
  ['#cloud-config-jsonp', 'a JSON patch'],
  ['#include-once', 'an include-once list of URLs'],
  ['#include', 'an include list of URLs'],
  ['#cloud-boothook', 'a boothook script'],
  ['#part-handler', 'a part handler'],
  ['#!', 'a script'],
];

/** Top-level keys cloud-init knows (for completion and docs). */
export function knownTopLevelKeys(): string[] {
  return Object.keys(cloudConfigSchema().root.properties ?? {});
}

/** Validates user-data text; returns every problem found (errors and warnings). */
export function validateUserData(text: string, file: string): Problem[] {
  return checkUserData(text, file).problems;
}

/** validateUserData, also returning the loaded config. */
export function checkUserData(text: string, file: string): UserDataReport {
  const problems: Problem[] = [];
  const push = (severity: Problem['severity'], code: string, message: string, pos: Pos, path: (string | number)[] = [], hint?: string) => {
    problems.push({ code, severity, message, ...(hint ? { hint } : {}), file, line: pos.line, column: pos.column, path });
  };
  const lines = text.split('\n', 2);
  const firstLine = lines[0]?.replace(/\r$/, '') ?? '';
  if (JINJA.test(firstLine)) {
    if (lines[1]?.replace(/\r$/, '').trimEnd() !== HEADER) {
      push(
        'error',
        'header',
        `a Jinja template needs "${HEADER}" on its second line`,
        { line: 2, column: 1 },
        [],
        'cloud-init ignores user-data without this header',
      );
    } else {
      push(
        'warning',
        'jinja',
        'a Jinja template: cloud-init renders it at boot with instance data, so only its header was checked',
        { line: 1, column: 1 },
        [],
        'render it with your values and validate the result',
      );
    }
    return { problems };
  }
  if (firstLine.trimEnd() !== HEADER) {
    const part = OTHER_PARTS.find(([prefix]) => firstLine.startsWith(prefix));
    push(
      'error',
      'header',
      `the first line must be "${HEADER}", got ${JSON.stringify(firstLine)}`,
      { line: 1, column: 1 },
      [],
      part ? `this is ${part[1]}, not cloud-config` : 'cloud-init ignores user-data without this header',
    );
  }
  const loaded = loadYaml11(text);
  for (const p of loaded.problems) {
    push(
      p.severity,
      p.code,
      p.message,
      p,
      p.path ?? [],
      p.hint ?? (p.severity === 'error' ? 'cloud-init cannot load this YAML (it reads YAML 1.1, like PyYAML)' : undefined),
    );
  }
  const root = loaded.root;
  if (!root) return { problems };
  if (root.kind === 'null') return { problems, config: null };
  if (root.kind !== 'map') {
    push('error', 'type', `expected a mapping at the top level, got ${root.kind === 'seq' ? 'a list' : 'a scalar'}`, root);
    return { problems, config: toPlain(root) };
  }
  for (const issue of checkAgainstSchema(root, cloudConfigSchema())) problems.push(fromIssue(issue, file));
  const config = toPlain(root) as Record<string, unknown>;
  checkCommands(root, config, 'runcmd', push);
  checkCommands(root, config, 'bootcmd', push);
  checkWriteFiles(root, config, push);
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  return { problems, config };
}

function fromIssue(issue: Issue, file: string): Problem {
  return {
    code: issue.code,
    severity: issue.deprecation ? 'warning' : 'error',
    message: issue.message,
    ...(issue.hint ? { hint: issue.hint } : {}),
    file,
    line: issue.pos.line,
    column: issue.pos.column,
    path: issue.path,
  };
}

type Push = (severity: Problem['severity'], code: string, message: string, pos: Pos, path?: (string | number)[], hint?: string) => void;

/** The node at `path` (or the deepest one that exists). */
function nodeAt(root: YNode, path: (string | number)[]): YNode {
  let node = root;
  for (const part of path) {
    if (node.kind === 'map') {
      const entry = [...node.entries.values()].find((e) => e.name === String(part));
      if (!entry) break;
      node = entry.value;
    } else if (node.kind === 'seq' && typeof part === 'number' && node.items[part]) {
      node = node.items[part]!;
    } else {
      break;
    }
  }
  return node;
}

/** runcmd/bootcmd run as one `sh` script: without `set -e` a failing line goes unnoticed. */
function checkCommands(root: YNode, data: Record<string, unknown>, key: 'runcmd' | 'bootcmd', push: Push) {
  const items = data[key];
  if (!Array.isArray(items)) return;
  items.forEach((item, i) => {
    const pos = nodeAt(root, [key, i]);
    if (typeof item === 'string') {
      if (item.trim().includes('\n') && !/^\s*set -e/.test(item)) {
        push(
          'warning',
          'not-strict',
          `${key}[${i}]: a multi-line block without "set -e" ignores failing lines`,
          pos,
          [key, i],
          'start the block with "set -euo pipefail" (and run it with bash)',
        );
      }
    } else if (Array.isArray(item)) {
      const script = item[0] === 'bash' || item[0] === 'sh' ? item[2] : undefined;
      if (item[1] === '-c' && typeof script === 'string' && script.includes('\n') && !/^\s*set -e/.test(script)) {
        push(
          'warning',
          'not-strict',
          `${key}[${i}]: a multi-line script without "set -e" ignores failing lines`,
          pos,
          [key, i],
          'start it with "set -euo pipefail"',
        );
      }
    }
  });
  if (items.length > 1 && !(typeof items[0] === 'string' && /^set -e/.test(items[0]))) {
    push(
      'warning',
      'not-strict',
      `${key} does not start with "set -e": cloud-init runs all items as one sh script, so only the last item's failure counts`,
      nodeAt(root, [key]),
      [key],
      'make "set -e" the first item',
    );
  }
}

/** Two entries for one path: the later silently replaces the earlier (unless it appends). */
function checkWriteFiles(root: YNode, data: Record<string, unknown>, push: Push) {
  const items = data.write_files;
  if (!Array.isArray(items)) return;
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    if (!isRecord(item) || typeof item.path !== 'string') return;
    if (item.append !== true) {
      const previous = seen.get(item.path);
      if (previous !== undefined) {
        push(
          'warning',
          'duplicate-path',
          `write_files[${i}] overwrites ${item.path} written by write_files[${previous}]`,
          nodeAt(root, ['write_files', i, 'path']),
          ['write_files', i, 'path'],
        );
      }
      seen.set(item.path, i);
    }
  });
}
