/**
 * YAML with positions and limits: parse with a LineCounter, reject duplicate
 * keys, cap alias expansion (billion laughs), and map document paths back to
 * line:column for every problem.
 *
 * Fast path: a document that is plain JSON (generated manifests of thousands
 * of images usually are) is read with JSON.parse, 100× faster than the YAML
 * composer; the YAML library is loaded and the positioned document built only
 * if a position is asked for (a problem, or an image's line).
 */
import { createRequire } from 'node:module';
import type { Document, LineCounter, Node } from 'yaml';
import { ProblemCode, type Problem } from './problems.js';

type YamlModule = typeof import('yaml');
let yamlModule: YamlModule | undefined;
/**
 * The YAML library, loaded on first use (it is a CommonJS package: one
 * instance whichever way it is loaded). Modules on the path of every command
 * take it from here rather than importing it, so a JSON manifest never loads
 * it (~20 ms of a process start).
 */
export function yaml(): YamlModule {
  return (yamlModule ??= createRequire(import.meta.url)('yaml') as YamlModule);
}

/** Alias expansion cap: far above real manifests, far below an alias bomb. */
export const MAX_ALIAS_COUNT = 100;

export interface ParsedYaml {
  doc: Document;
  lineCounter: LineCounter;
  data: unknown;
  problems: Problem[];
}

export function parseYaml(text: string, file: string): ParsedYaml {
  const json = plainJson(text);
  if (json !== undefined) {
    let positioned: { doc: Document; lineCounter: LineCounter } | undefined;
    const build = () => (positioned ??= positionedDocument(text));
    return {
      get doc() {
        return build().doc;
      },
      get lineCounter() {
        return build().lineCounter;
      },
      data: json.value,
      problems: [],
    };
  }
  const { doc, lineCounter } = positionedDocument(text);
  const problems: Problem[] = [];
  for (const error of doc.errors) {
    const pos = lineCounter.linePos(error.pos[0]);
    const [line, column] = [pos.line, pos.col];
    const duplicate = error.code === 'DUPLICATE_KEY';
    problems.push({
      code: duplicate ? ProblemCode.yamlDuplicateKey : ProblemCode.yamlSyntax,
      severity: 'error',
      message: firstLine(error.message),
      hint: duplicate ? 'each key may appear once per mapping; remove or rename one' : 'fix the YAML syntax at this position',
      file,
      line,
      column,
      path: [],
    });
  }
  let data: unknown;
  if (problems.length === 0) {
    try {
      data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (error) {
      problems.push({
        code: ProblemCode.yamlAliases,
        severity: 'error',
        message: `too many alias expansions (limit ${MAX_ALIAS_COUNT}): ${(error as Error).message}`,
        hint: 'the document expands aliases exponentially ("billion laughs"); write the values out',
        file,
        line: 1,
        column: 1,
        path: [],
      });
    }
  }
  return { doc, lineCounter, data, problems };
}

function positionedDocument(text: string): { doc: Document; lineCounter: LineCounter } {
  const { LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true, merge: false });
  return { doc, lineCounter };
}

/**
 * The value of `text` when it is a JSON object without duplicate keys (what
 * YAML would read the same way), else undefined and the YAML path decides,
 * reporting any problem with its position. Duplicates are found by counting:
 * every `"…":` in the text is a key, and JSON.parse keeps one per name.
 */
export function plainJson(text: string): { value: unknown } | undefined {
  if (!/^\s*\{/.test(text)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  let keysInText = 0;
  for (const match of text.matchAll(/"(?:[^"\\]|\\.)*"(\s*:)?/g)) if (match[1]) keysInText++;
  return keysInText === countKeys(value) ? { value } : undefined;
}

function countKeys(value: unknown): number {
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + countKeys(v), 0);
  if (value === null || typeof value !== 'object') return 0;
  let n = 0;
  for (const v of Object.values(value)) n += 1 + countKeys(v);
  return n;
}

/**
 * line:column of the node at `path` (or of its key, for unknown-key
 * problems). Falls back to the deepest node that exists.
 */
export function positionOf(
  parsed: Pick<ParsedYaml, 'doc' | 'lineCounter'>,
  path: readonly (string | number)[],
  atKey = false,
): { line: number; column: number } {
  const { isMap, isPair, isScalar, isSeq } = yaml();
  let node: unknown = parsed.doc.contents;
  let best: Node | undefined = parsed.doc.contents ?? undefined;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment));
      if (!pair) break;
      if (last && atKey && pair.key) {
        best = pair.key as Node;
        break;
      }
      node = pair.value;
      if (node) best = node as Node;
      else if (pair.key) best = pair.key as Node;
    } else if (isSeq(node) && typeof segment === 'number') {
      node = node.items[segment];
      if (!node) break;
      best = node as Node;
    } else {
      break;
    }
  }
  const offset = best?.range?.[0] ?? 0;
  const pos = parsed.lineCounter.linePos(offset);
  return { line: pos.line, column: pos.col };
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}
