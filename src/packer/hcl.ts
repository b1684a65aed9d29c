/**
 * A small HCL2 writer: data (blocks, attributes, values) → HCL text. Templates
 * are built as objects and serialised here, never by pasting text, so every
 * string is escaped exactly once and the output is deterministic. The layout
 * follows `packer fmt` (two-space indent, `=` aligned within a run of
 * single-line attributes) so generated files pass `packer fmt -check`.
 */

/** A raw HCL expression (a reference, a function call, a template string). */
export interface HclExpr {
  readonly kind: 'expr';
  readonly text: string;
}

/** Any value an attribute can hold; object keys are written sorted. */
export type HclValue = string | number | boolean | null | HclExpr | readonly HclValue[] | { readonly [key: string]: HclValue };

/** One item in a block body. */
export type HclItem = { readonly attr: string; readonly value: HclValue } | HclBlock | { readonly comment: string } | { readonly blank: true };

/** A block such as `source "amazon-ebs" "main" { … }`. */
export interface HclBlock {
  readonly block: string;
  readonly labels?: readonly string[];
  readonly body: readonly HclItem[];
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const TRAVERSAL = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*|\[[0-9]+\])*$/;

/** A reference such as `var.region` or `local.build_time`; rejects anything that is not a plain traversal. */
export function ref(path: string): HclExpr {
  if (!TRAVERSAL.test(path)) throw new Error(`not an HCL reference: ${JSON.stringify(path)}`);
  return { kind: 'expr', text: path };
}

/** A function call `name(arg, …)` with each argument written as a value. */
export function call(name: string, ...args: HclValue[]): HclExpr {
  if (!IDENT.test(name)) throw new Error(`not an HCL function name: ${JSON.stringify(name)}`);
  return { kind: 'expr', text: `${name}(${args.map((a) => inlineValue(a)).join(', ')})` };
}

/** A template string: literal parts are escaped, expressions are interpolated as `${…}`. */
export function interp(...parts: (string | HclExpr)[]): HclExpr {
  const body = parts.map((p) => (typeof p === 'string' ? escapeString(p) : `\${${p.text}}`)).join('');
  return { kind: 'expr', text: `"${body}"` };
}

/** Escapes a string for the inside of an HCL quoted string; `${` and `%{` become literal. */
export function escapeString(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    const next = value[i + 1];
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if ((ch === '$' || ch === '%') && next === '{') out += ch + ch;
    else if (ch < ' ' || ch === '\u007f') out += `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return out;
}

/** Serialises top-level items to a complete HCL file (ends with one newline). */
export function toHcl(items: readonly HclItem[]): string {
  return `${writeBody(items, 0).join('\n')}\n`;
}

function isExpr(value: HclValue): value is HclExpr {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    (value as { kind?: unknown }).kind === 'expr' &&
    typeof (value as { text?: unknown }).text === 'string'
  );
}

function isBlock(item: HclItem): item is HclBlock {
  return 'block' in item;
}

function writeBody(items: readonly HclItem[], depth: number): string[] {
  const pad = '  '.repeat(depth);
  const lines: string[] = [];
  // Consecutive attributes form an alignment group, as hclwrite does.
  let group: { name: string; value: string[] }[] = [];
  const flush = () => {
    const width = Math.max(0, ...group.map((g) => g.name.length));
    for (const g of group) {
      const [first, ...rest] = g.value;
      lines.push(`${pad}${g.name.padEnd(width)} = ${first}`, ...rest);
    }
    group = [];
  };
  for (const item of items) {
    if ('attr' in item) {
      if (!IDENT.test(item.attr)) throw new Error(`not an HCL attribute name: ${JSON.stringify(item.attr)}`);
      const value = writeValue(item.value, depth);
      // A multi-line value stands alone: `packer fmt` does not align across it.
      if (value.length > 1) flush();
      group.push({ name: item.attr, value });
      if (value.length > 1) flush();
      continue;
    }
    flush();
    if ('blank' in item) lines.push('');
    else if ('comment' in item) for (const line of item.comment.split('\n')) lines.push(`${pad}#${line ? ` ${line}` : ''}`);
    else if (isBlock(item)) lines.push(...writeBlock(item, depth));
  }
  flush();
  return lines;
}

function writeBlock(block: HclBlock, depth: number): string[] {
  const pad = '  '.repeat(depth);
  if (!IDENT.test(block.block)) throw new Error(`not an HCL block type: ${JSON.stringify(block.block)}`);
  const labels = (block.labels ?? []).map((l) => ` "${escapeString(l)}"`).join('');
  if (block.body.length === 0) return [`${pad}${block.block}${labels} {`, `${pad}}`];
  return [`${pad}${block.block}${labels} {`, ...writeBody(block.body, depth + 1), `${pad}}`];
}

/** A value as lines: the first continues after `name = `, the rest are indented for `depth`. */
function writeValue(value: HclValue, depth: number): string[] {
  const pad = '  '.repeat(depth);
  if (Array.isArray(value)) {
    const items = value as readonly HclValue[];
    const inline = items.map((v) => (isScalar(v) ? inlineValue(v) : undefined));
    const oneLine = `[${inline.join(', ')}]`;
    if (inline.every((v) => v !== undefined) && oneLine.length <= 80) return [oneLine];
    const lines = ['['];
    for (const v of items) {
      const [first, ...rest] = writeValue(v, depth + 1);
      lines.push(`${pad}  ${first}`, ...rest);
      lines[lines.length - 1] += ',';
    }
    lines.push(`${pad}]`);
    return lines;
  }
  if (typeof value === 'object' && value !== null && !isExpr(value)) {
    const entries = Object.entries(value as Record<string, HclValue>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (entries.length === 0) return ['{}'];
    const keys = entries.map(([k]) => (IDENT.test(k) ? k : `"${escapeString(k)}"`));
    const width = Math.max(...keys.map((k) => k.length));
    const lines = ['{'];
    entries.forEach(([, v], i) => {
      const [first, ...rest] = writeValue(v, depth + 1);
      lines.push(`${pad}  ${keys[i]!.padEnd(width)} = ${first}`, ...rest);
    });
    lines.push(`${pad}}`);
    return lines;
  }
  return [inlineValue(value)];
}

function isScalar(value: HclValue): boolean {
  return value === null || typeof value !== 'object' || isExpr(value);
}

function inlineValue(value: HclValue): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `"${escapeString(value)}"`;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`HCL cannot represent the number ${value}`);
    return String(value);
  }
  if (isExpr(value)) return value.text;
  if (Array.isArray(value)) return `[${(value as readonly HclValue[]).map((v) => inlineValue(v)).join(', ')}]`;
  const entries = Object.entries(value as Record<string, HclValue>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{ ${entries.map(([k, v]) => `${IDENT.test(k) ? k : `"${escapeString(k)}"`} = ${inlineValue(v)}`).join(', ')} }`;
}
