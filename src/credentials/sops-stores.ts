/**
 * The four file formats sops writes, read the way sops' stores read them:
 * YAML and JSON (a tree with a `sops` mapping), dotenv (`KEY=VALUE` lines,
 * metadata flattened into `sops_…` keys) and INI (sections of `key = value`,
 * metadata flattened into a `[sops]` section). sops' "binary" files are JSON
 * with one `data` key, so they are JSON here. Every reader returns the data
 * tree in file order — the MAC depends on the order — and the metadata as a
 * plain object. Comments are dropped: sops leaves them out of the MAC.
 */
import { parse as parseYaml } from 'yaml';

/** A branch of the tree: keys in file order. */
export type SopsBranch = Map<string, SopsNode>;
/** A node: a branch, a list (items share their parent's path) or a scalar. */
export type SopsNode = SopsBranch | SopsNode[] | string | number | bigint | boolean | null;

export type SopsFormat = 'yaml' | 'json' | 'dotenv' | 'ini';
export const SOPS_FORMATS: readonly SopsFormat[] = ['yaml', 'json', 'dotenv', 'ini'];

export interface SopsFile {
  format: SopsFormat;
  tree: SopsBranch;
  /** The `sops` section as plain values (flat formats: unflattened, all strings). */
  metadata: Record<string, unknown>;
}

/** Thrown for text that is not a well-formed file of its format; the caller adds the file name. */
export class SopsFormatError extends Error {}

/** The format sops would pick: by extension (as `sops` does), else by looking at the text. */
export function detectSopsFormat(file: string, text: string): SopsFormat {
  const lower = file.toLowerCase();
  if (/\.ya?ml$/.test(lower)) return 'yaml';
  if (/\.json$/.test(lower)) return 'json';
  if (/\.env$/.test(lower) || /(^|\/)\.env(\.[^/]*)?$/.test(lower)) return 'dotenv';
  if (/\.ini$/.test(lower)) return 'ini';
  const start = text.replace(/^\uFEFF/, '').trimStart();
  if (start.startsWith('{')) return 'json';
  if (/^\s*\[sops\]\s*$/m.test(text)) return 'ini';
  if (/^sops_mac=/m.test(text)) return 'dotenv';
  return 'yaml';
}

/** Parses a sops-encrypted file of `format`; throws SopsFormatError. */
export function readSopsFile(text: string, format: SopsFormat): SopsFile {
  switch (format) {
    case 'yaml':
    case 'json':
      return readTree(text, format);
    case 'dotenv':
      return readDotenv(text);
    case 'ini':
      return readIni(text);
  }
}

function readTree(text: string, format: 'yaml' | 'json'): SopsFile {
  let doc: unknown;
  try {
    // mapAsMap keeps key order exactly as written (the MAC depends on it); JSON is YAML too.
    // intAsBigInt keeps large integers exact for the MAC, as Go's int64 does.
    doc = parseYaml(text, { mapAsMap: true, uniqueKeys: true, maxAliasCount: 0, intAsBigInt: true });
  } catch (error) {
    throw new SopsFormatError(`cannot parse as ${format.toUpperCase()}: ${(error as Error).message.split('\n')[0]}`);
  }
  if (!(doc instanceof Map)) throw new SopsFormatError('expected a mapping at the top level');
  const tree = toNode(doc, []) as SopsBranch;
  const meta = tree.get('sops');
  tree.delete('sops');
  if (!(meta instanceof Map)) throw new SopsFormatError('not a SOPS file (no "sops" section)');
  return { format, tree, metadata: toPlain(meta) as Record<string, unknown> };
}

function toNode(value: unknown, path: string[]): SopsNode {
  if (value instanceof Map) {
    const out: SopsBranch = new Map();
    for (const [key, item] of value) {
      // sops refuses a tree with a non-string key ("Only string keys are supported").
      if (typeof key !== 'string') throw new SopsFormatError(`the key ${String(key)} under ${path.join('.') || 'the top level'} is not a string (quote it)`);
      out.set(key, toNode(item, [...path, key]));
    }
    return out;
  }
  if (Array.isArray(value)) return value.map((item) => toNode(item, path));
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return value;
  throw new SopsFormatError(`unsupported value at ${path.join('.')}`);
}

function toPlain(node: SopsNode): unknown {
  if (node instanceof Map) return Object.fromEntries([...node].map(([k, v]) => [k, toPlain(v)]));
  if (Array.isArray(node)) return node.map(toPlain);
  if (typeof node === 'bigint') return Number(node);
  return node;
}

const SOPS_PREFIX = 'sops_';

// sops' dotenv store: one `KEY=VALUE` per line, `#` comments, `\n` in a value is a newline.
function readDotenv(text: string): SopsFile {
  const tree: SopsBranch = new Map();
  const flat: Record<string, string> = {};
  text.split('\n').forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq < 1) throw new SopsFormatError(`line ${index + 1} is not KEY=VALUE`);
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1).replaceAll('\\n', '\n');
    if (key.startsWith(SOPS_PREFIX)) {
      flat[key.slice(SOPS_PREFIX.length)] = value;
    } else {
      if (tree.has(key)) throw new SopsFormatError(`line ${index + 1}: ${key} is set twice`);
      tree.set(key, value);
    }
  });
  if (Object.keys(flat).length === 0) throw new SopsFormatError('not a SOPS file (no sops_* lines)');
  return { format: 'dotenv', tree, metadata: unflatten(flat) };
}

// sops' INI store (go-ini underneath): `[section]` headers, `key = value` or `key: value`,
// `;`/`#` comments. Keys before the first header belong to go-ini's DEFAULT section.
function readIni(text: string): SopsFile {
  const sections = new Map<string, SopsBranch>([['DEFAULT', new Map()]]);
  let current = sections.get('DEFAULT')!;
  let currentName = 'DEFAULT';
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) return;
    if (line.startsWith('[')) {
      const end = line.indexOf(']');
      if (end < 0) throw new SopsFormatError(`line ${index + 1}: unclosed section header`);
      currentName = line.slice(1, end).trim();
      current = sections.get(currentName) ?? new Map();
      sections.set(currentName, current);
      return;
    }
    const sep = /[=:]/.exec(line);
    if (!sep || sep.index === 0) throw new SopsFormatError(`line ${index + 1} is not "key = value"`);
    const key = unquote(line.slice(0, sep.index).trim());
    if (current.has(key)) throw new SopsFormatError(`line ${index + 1}: ${currentName}.${key} is set twice`);
    current.set(key, iniValue(line.slice(sep.index + 1)));
  });
  const meta = sections.get('sops');
  if (!meta) throw new SopsFormatError('not a SOPS file (no [sops] section)');
  sections.delete('sops');
  const flat: Record<string, string> = {};
  for (const [key, value] of meta) flat[key] = String(value).replaceAll('\\n', '\n');
  const tree: SopsBranch = new Map();
  for (const [name, branch] of sections) {
    // go-ini always has a DEFAULT section; it holds no values unless keys precede the first header.
    if (name === 'DEFAULT' && branch.size === 0) continue;
    tree.set(name, branch);
  }
  return { format: 'ini', tree, metadata: unflatten(flat) };
}

// A go-ini value: surrounding quotes removed, an inline comment (`;` or `#`) cut off.
function iniValue(raw: string): string {
  const value = raw.trim();
  if (value.startsWith('"""')) {
    const end = value.indexOf('"""', 3);
    if (end < 0) throw new SopsFormatError('multi-line """ values are not supported');
    return value.slice(3, end);
  }
  if (value.startsWith('`')) {
    const end = value.indexOf('`', 1);
    if (end > 0) return value.slice(1, end);
  }
  const cut = value.search(/[#;]/);
  const bare = (cut >= 0 ? value.slice(0, cut) : value).trim();
  return unquote(bare);
}

function unquote(value: string): string {
  if (value.length > 1 && ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'")))) {
    return value.slice(1, -1);
  }
  return value;
}

/**
 * sops' flattened metadata back into a tree: `age__list_0__map_enc` is
 * `age[0].enc`. Values stay strings (the flat formats have no types).
 */
export function unflatten(flat: Record<string, string>): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flat)) {
    const [head = '', ...rest] = key.split('__');
    let parent: Record<string, unknown> | unknown[] = root;
    let slot: string | number = head;
    for (const part of rest) {
      const list = /^list_(\d+)$/.exec(part);
      const map = /^map_(.+)$/.exec(part);
      if (!list && !map) throw new SopsFormatError(`metadata key sops_${key} is not one sops writes`);
      const container = (get(parent, slot) ?? (list ? [] : {})) as Record<string, unknown> | unknown[];
      if (list ? !Array.isArray(container) : Array.isArray(container) || typeof container !== 'object') {
        throw new SopsFormatError(`metadata key sops_${key} conflicts with another`);
      }
      put(parent, slot, container);
      parent = container;
      slot = list ? Number(list[1]) : map![1]!;
    }
    put(parent, slot, value);
  }
  return root;
}

function get(parent: Record<string, unknown> | unknown[], slot: string | number): unknown {
  return Array.isArray(parent) ? parent[slot as number] : parent[slot as string];
}

function put(parent: Record<string, unknown> | unknown[], slot: string | number, value: unknown): void {
  if (slot === '__proto__' || slot === 'constructor' || slot === 'prototype') throw new SopsFormatError(`metadata key ${slot} is not one sops writes`);
  if (Array.isArray(parent)) {
    if ((slot as number) > 1000) throw new SopsFormatError('metadata list index out of range');
    parent[slot as number] = value;
  } else {
    parent[slot as string] = value;
  }
}
