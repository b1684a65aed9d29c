/**
 * User-data read the way cloud-init reads it. cloud-init loads cloud-config
 * with PyYAML's SafeLoader, which is YAML 1.1: `yes`/`no`/`on`/`off` are
 * booleans, `0644` is an octal integer while `0o644` stays a string, `1:30` is
 * 90, `2024-01-01` is a date, `!!binary` is bytes, `<<` merges, and a key given
 * twice silently keeps its last value. A validator that reads YAML 1.2 refuses
 * valid cloud-config and accepts broken one, so this loader reproduces those
 * rules on top of the `yaml` parser (used only for syntax and positions, with
 * its failsafe schema so that every scalar arrives as written).
 *
 * The result is a typed tree (`YNode`): each node keeps its kind (int and
 * float stay apart, as jsonschema's draft-4 "integer" needs) and its position.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node as YamlNode } from 'yaml';

/** Where a node starts (1-based). */
export interface Pos {
  line: number;
  column: number;
}

export type YNode = YMap | YSeq | YStr | YInt | YFloat | YBool | YNull | YBytes | YTimestamp | YSet | YPairs;

interface Base extends Pos {
  /** An empty plain scalar (`key:` with nothing after it). */
  empty?: boolean;
}
export interface YMap extends Base {
  kind: 'map';
  /** Python dict order: a key keeps its first place and its last value. */
  entries: Map<string, YEntry>;
}
export interface YEntry {
  /** The key as Python's str() prints it ("True" for a YAML boolean key). */
  name: string;
  key: YNode;
  value: YNode;
}
export interface YSeq extends Base {
  kind: 'seq';
  items: YNode[];
}
export interface YStr extends Base {
  kind: 'str';
  value: string;
}
/** Integers are arbitrary precision in Python, so bigint here. */
export interface YInt extends Base {
  kind: 'int';
  value: bigint;
}
export interface YFloat extends Base {
  kind: 'float';
  value: number;
}
export interface YBool extends Base {
  kind: 'bool';
  value: boolean;
}
export interface YNull extends Base {
  kind: 'null';
}
/** `!!binary`: cloud-init's schema accepts bytes wherever it wants a string. */
export interface YBytes extends Base {
  kind: 'bytes';
  value: Uint8Array;
}
/** A YAML 1.1 timestamp (`2030-01-01`): a date object in Python, not a string. */
export interface YTimestamp extends Base {
  kind: 'timestamp';
  text: string;
}
/** `!!set`: a Python set; no JSON-schema type matches it. */
export interface YSet extends Base {
  kind: 'set';
  members: YNode[];
}
/** `!!omap` / `!!pairs`: a list of tuples (tuples match no JSON-schema type). */
export interface YPairs extends Base {
  kind: 'pairs';
  pairs: [YNode, YNode][];
}

/** A problem found while loading (syntax, tags, or a warning such as a duplicate key). */
export interface LoadProblem extends Pos {
  severity: 'error' | 'warning';
  code: 'yaml-syntax' | 'yaml-tag' | 'yaml-alias-limit' | 'duplicate-key';
  message: string;
  hint?: string;
  /** Path of the mapping holding a duplicate key. */
  path?: (string | number)[];
}

export interface Loaded {
  /** undefined when loading failed; a YNull for an empty document. */
  root: YNode | undefined;
  problems: LoadProblem[];
}

/**
 * Expanded size above which aliases are refused: far above real user-data,
 * far below a "billion laughs" document (validation walks the expanded tree).
 */
export const MAX_EXPANDED_NODES = 200_000;

const TAG = 'tag:yaml.org,2002:';

// PyYAML's implicit resolvers (yaml/resolver.py, YAML 1.1), tried in this order.
const BOOL_RE = /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/;
const FLOAT_RE =
  /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
const INT_RE = /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/;
const NULL_RE = /^(?:~|null|Null|NULL|)$/;
const TIMESTAMP_RE =
  /^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$/;
const BOOL_VALUES: Record<string, boolean> = { yes: true, no: false, true: true, false: false, on: true, off: false };

/** The tag PyYAML gives a plain scalar with no explicit tag. */
export function resolvePlain(text: string): string {
  if (text === '') return `${TAG}null`;
  const first = text[0]!;
  if ('yYnNtTfFoO'.includes(first) && BOOL_RE.test(text)) return `${TAG}bool`;
  if ('-+0123456789.'.includes(first) && FLOAT_RE.test(text)) return `${TAG}float`;
  if ('-+0123456789'.includes(first) && INT_RE.test(text)) return `${TAG}int`;
  if (text === '<<') return `${TAG}merge`;
  if ('~nN'.includes(first) && NULL_RE.test(text)) return `${TAG}null`;
  if ('0123456789'.includes(first) && TIMESTAMP_RE.test(text)) return `${TAG}timestamp`;
  if (text === '=') return `${TAG}value`;
  return `${TAG}str`;
}

class LoadError extends Error {
  constructor(
    message: string,
    readonly pos: Pos,
    readonly code: LoadProblem['code'] = 'yaml-tag',
  ) {
    super(message);
  }
}

/** Loads user-data text like `yaml.safe_load` (cloud-init's loader). */
export function loadYaml11(text: string): Loaded {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, {
    lineCounter,
    schema: 'failsafe',
    version: '1.1',
    uniqueKeys: false,
    merge: false,
    strict: false,
    prettyErrors: false,
  });
  const at = (offset: number | undefined): Pos => {
    const p = lineCounter.linePos(offset ?? 0);
    return { line: p.line, column: p.col };
  };
  const list = Array.isArray(docs) ? docs : [];
  const problems: LoadProblem[] = [];
  for (const doc of list) {
    for (const error of doc.errors) problems.push({ severity: 'error', code: 'yaml-syntax', message: firstLine(error.message), ...at(error.pos[0]) });
  }
  if (!Array.isArray(docs)) {
    // An empty stream parses to an EmptyStream: Python's None.
    return { root: { kind: 'null', line: 1, column: 1 }, problems };
  }
  if (problems.length) return { root: undefined, problems };
  if (list.length > 1) {
    const second = list[1]!;
    return {
      root: undefined,
      problems: [
        {
          severity: 'error',
          code: 'yaml-syntax',
          message: 'expected a single document in the stream, but found another document',
          hint: 'cloud-config is one YAML document: remove the "---" separator',
          ...at(second.range[0]),
        },
      ],
    };
  }
  const doc = list[0];
  if (!doc || doc.contents === null) return { root: { kind: 'null', line: 1, column: 1 }, problems };
  const builder = new Builder(text, doc, at, problems);
  try {
    const root = builder.build(doc.contents as YamlNode, []);
    if (builder.expandedSize(root) > MAX_EXPANDED_NODES) {
      throw new LoadError(`aliases expand the document past ${MAX_EXPANDED_NODES} nodes`, { line: 1, column: 1 }, 'yaml-alias-limit');
    }
    return { root, problems };
  } catch (error) {
    if (!(error instanceof LoadError)) throw error;
    problems.push({
      severity: 'error',
      code: error.code,
      message: error.message,
      ...error.pos,
      ...(error.code === 'yaml-alias-limit' ? { hint: 'write the values out instead of nesting aliases ("billion laughs")' } : {}),
    });
    return { root: undefined, problems };
  }
}

class Builder {
  private readonly done = new Map<YamlNode, YNode>();
  private readonly building = new Set<YamlNode>();
  private readonly sizes = new Map<YNode, number>();

  constructor(
    private readonly text: string,
    private readonly doc: Document,
    private readonly at: (offset: number | undefined) => Pos,
    private readonly problems: LoadProblem[],
  ) {}

  build(node: YamlNode | null | undefined, path: (string | number)[], fallback?: Pos): YNode {
    if (node === null || node === undefined) return { kind: 'null', line: fallback?.line ?? 1, column: fallback?.column ?? 1, empty: true };
    if (isAlias(node)) {
      const target = node.resolve(this.doc);
      if (!target) throw new LoadError(`found undefined alias "${node.source}"`, this.at(node.range?.[0]));
      if (this.building.has(target))
        throw new LoadError(`alias "*${node.source}" refers to a node that contains it (a recursive structure)`, this.at(node.range?.[0]));
      return this.build(target, path);
    }
    const done = this.done.get(node);
    if (done) return done;
    this.building.add(node);
    try {
      const built = this.construct(node, path);
      this.done.set(node, built);
      return built;
    } finally {
      this.building.delete(node);
    }
  }

  private construct(node: YamlNode, path: (string | number)[]): YNode {
    const pos = this.at(node.range?.[0]);
    const tag = node.tag;
    if (isScalar(node)) {
      const text = String(node.value ?? '');
      const plain = node.type === 'PLAIN' || node.type === undefined;
      // PyYAML resolves `!` like an untagged plain scalar, even on a quoted one.
      const resolved = tag === '!' || (tag === undefined && plain) ? resolvePlain(text) : tag === undefined ? `${TAG}str` : tag;
      return this.scalar(resolved, text, pos, plain && text === '');
    }
    if (isMap(node)) {
      const kind = tag === undefined || tag === '!' ? `${TAG}map` : tag;
      if (kind === `${TAG}map`) return this.mapping(node, path, pos);
      if (kind === `${TAG}set`) {
        const members = this.pairsOf(node, path).map(([k]) => k);
        return { kind: 'set', members, ...pos };
      }
      if (
        kind === `${TAG}str` ||
        kind === `${TAG}int` ||
        kind === `${TAG}float` ||
        kind === `${TAG}bool` ||
        kind === `${TAG}null` ||
        kind === `${TAG}binary` ||
        kind === `${TAG}timestamp`
      ) {
        throw new LoadError(`expected a scalar node for the tag "${shortTag(kind)}", but found a mapping`, pos);
      }
      throw new LoadError(`could not determine a constructor for the tag "${shortTag(kind)}"`, this.tagPos(kind, pos));
    }
    if (isSeq(node)) {
      const kind = tag === undefined || tag === '!' ? `${TAG}seq` : tag;
      if (kind === `${TAG}seq`) return { kind: 'seq', items: node.items.map((item, i) => this.build(item as YamlNode, [...path, i], pos)), ...pos };
      if (kind === `${TAG}omap` || kind === `${TAG}pairs`) {
        const pairs: [YNode, YNode][] = [];
        node.items.forEach((item, i) => {
          const sub = isAlias(item) ? item.resolve(this.doc) : item;
          if (!isMap(sub) || sub.items.length !== 1)
            throw new LoadError(`expected a single mapping item in "${shortTag(kind)}", but found something else`, this.at((item as YamlNode).range?.[0]));
          pairs.push(...this.pairsOf(sub, [...path, i]));
        });
        return { kind: 'pairs', pairs, ...pos };
      }
      if (kind === `${TAG}set` || kind === `${TAG}map`)
        throw new LoadError(`expected a mapping node for the tag "${shortTag(kind)}", but found a sequence`, pos);
      throw new LoadError(`could not determine a constructor for the tag "${shortTag(kind)}"`, this.tagPos(kind, pos));
    }
    throw new LoadError('unsupported YAML node', pos);
  }

  private scalar(tag: string, text: string, pos: Pos, empty: boolean): YNode {
    const base = { ...pos, ...(empty ? { empty: true } : {}) };
    switch (tag) {
      case `${TAG}str`:
      case `${TAG}python/unicode`:
        return { kind: 'str', value: text, ...base };
      case `${TAG}null`:
        return { kind: 'null', ...base };
      case `${TAG}bool`: {
        const value = BOOL_VALUES[text.toLowerCase()];
        if (value === undefined) throw new LoadError(`"${text}" is not a YAML 1.1 boolean (!!bool takes yes/no/true/false/on/off)`, pos);
        return { kind: 'bool', value, ...base };
      }
      case `${TAG}int`:
        return { kind: 'int', value: constructInt(text, pos), ...base };
      case `${TAG}float`:
        return { kind: 'float', value: constructFloat(text, pos), ...base };
      case `${TAG}binary`:
        return { kind: 'bytes', value: decodeBase64(text, pos), ...base };
      case `${TAG}timestamp`:
        if (!TIMESTAMP_RE.test(text)) throw new LoadError(`"${text}" is not a YAML 1.1 timestamp`, pos);
        return { kind: 'timestamp', text, ...base };
      case `${TAG}merge`:
        // `<<` outside a mapping key: PyYAML has no constructor for it either.
        throw new LoadError('a merge key "<<" can only be a mapping key', pos);
      default:
        throw new LoadError(`could not determine a constructor for the tag "${shortTag(tag)}"`, this.tagPos(tag, pos), 'yaml-tag');
    }
  }

  /** Where a tag is written (before its node, which is where the parser puts the node). */
  private tagPos(tag: string, pos: Pos): Pos {
    const lines = this.text.split('\n');
    const line = lines[pos.line - 1] ?? '';
    const column = line.lastIndexOf(shortTag(tag), pos.column - 1);
    return column >= 0 ? { line: pos.line, column: column + 1 } : pos;
  }

  /** Key/value nodes of a mapping after PyYAML's flatten_mapping (merge keys). */
  private flatten(node: YamlNode & { items: unknown[] }): { key: YamlNode | null; value: YamlNode | null; isMerge: boolean }[] {
    const own: { key: YamlNode | null; value: YamlNode | null; isMerge: boolean }[] = [];
    const merged: { key: YamlNode | null; value: YamlNode | null; isMerge: boolean }[] = [];
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const key = pair.key as YamlNode | null;
      const value = pair.value as YamlNode | null;
      if (key && isScalar(key) && key.tag === undefined && (key.type === 'PLAIN' || key.type === undefined) && String(key.value) === '<<') {
        const target = value && isAlias(value) ? value.resolve(this.doc) : value;
        if (target && isMap(target)) {
          merged.push(...this.flatten(target).map((e) => ({ ...e, isMerge: true })));
        } else if (target && isSeq(target)) {
          const groups: (typeof merged)[] = [];
          for (const item of target.items) {
            const sub = isAlias(item) ? item.resolve(this.doc) : item;
            if (!sub || !isMap(sub))
              throw new LoadError('expected a mapping for merging, but found something else', this.at((item as YamlNode | null)?.range?.[0]));
            groups.push(this.flatten(sub));
          }
          // Earlier mappings in the list win: PyYAML merges them in reverse.
          for (const group of groups.reverse()) merged.push(...group.map((e) => ({ ...e, isMerge: true })));
        } else {
          throw new LoadError('expected a mapping or list of mappings for merging', this.at(value?.range?.[0] ?? key.range?.[0]));
        }
        continue;
      }
      own.push({ key, value, isMerge: false });
    }
    return [...merged, ...own];
  }

  private pairsOf(node: YamlNode & { items: unknown[] }, path: (string | number)[]): [YNode, YNode][] {
    return this.flatten(node).map(({ key, value }) => {
      const k = this.build(key, path, this.at(node.range?.[0]));
      const v = this.build(value, [...path, keyName(k)], k);
      return [k, v];
    });
  }

  private mapping(node: YamlNode & { items: unknown[] }, path: (string | number)[], pos: Pos): YMap {
    const entries = new Map<string, YEntry>();
    const written = new Set<string>();
    for (const { key, value, isMerge } of this.flatten(node)) {
      // A `=` key is a string key (flatten_mapping retags it).
      const k: YNode =
        key && isScalar(key) && key.tag === undefined && (key.type === 'PLAIN' || key.type === undefined) && String(key.value) === '='
          ? { kind: 'str', value: '=', ...this.at(key.range?.[0]) }
          : this.build(key, path, pos);
      if (k.kind === 'map' || k.kind === 'seq' || k.kind === 'set' || k.kind === 'pairs') {
        throw new LoadError('found an unhashable key (a mapping or a list cannot be a key)', k);
      }
      const name = keyName(k);
      const v = this.build(value, [...path, name], k);
      const id = mapKey(k);
      const previous = entries.get(id);
      if (previous && !isMerge && written.has(id)) {
        this.problems.push({
          severity: 'warning',
          code: 'duplicate-key',
          message: `duplicate key "${name}" (first at line ${previous.key.line}): cloud-init keeps only this last value`,
          hint: 'remove one of them; the earlier value is silently dropped',
          line: k.line,
          column: k.column,
          path,
        });
      }
      if (!isMerge) written.add(id);
      // A Python dict keeps a key's first place and first key object (1 then
      // True: the key stays 1); Map.set keeps the place too.
      entries.set(id, previous ? { name: previous.name, key: previous.key.kind === k.kind ? k : previous.key, value: v } : { name, key: k, value: v });
    }
    return { kind: 'map', entries, ...pos };
  }

  /** Node count of the tree with every alias expanded (memoised on shared nodes). */
  expandedSize(node: YNode): number {
    const known = this.sizes.get(node);
    if (known !== undefined) return known;
    let size = 1;
    if (node.kind === 'map') for (const e of node.entries.values()) size += this.expandedSize(e.key) + this.expandedSize(e.value);
    else if (node.kind === 'seq') for (const item of node.items) size += this.expandedSize(item);
    else if (node.kind === 'set') for (const m of node.members) size += this.expandedSize(m);
    else if (node.kind === 'pairs') for (const [k, v] of node.pairs) size += this.expandedSize(k) + this.expandedSize(v);
    this.sizes.set(node, Math.min(size, MAX_EXPANDED_NODES + 1));
    return Math.min(size, MAX_EXPANDED_NODES + 1);
  }
}

function constructInt(text: string, pos: Pos): bigint {
  let value = text.replaceAll('_', '');
  let sign = 1n;
  if (value.startsWith('-')) sign = -1n;
  if (value.startsWith('-') || value.startsWith('+')) value = value.slice(1);
  try {
    if (value === '0') return 0n;
    if (value.startsWith('0b')) return sign * parseBase(value.slice(2), 2);
    if (value.startsWith('0x')) return sign * parseBase(value.slice(2), 16);
    if (value.startsWith('0')) return sign * parseBase(value.slice(1), 8);
    if (value.includes(':')) {
      let total = 0n;
      for (const part of value.split(':')) total = total * 60n + parseBase(part, 10);
      return sign * total;
    }
    return sign * parseBase(value, 10);
  } catch {
    throw new LoadError(`"${text}" is not an integer`, pos);
  }
}

function parseBase(digits: string, base: number): bigint {
  const alphabet = '0123456789abcdef'.slice(0, base);
  if (!digits.length || ![...digits.toLowerCase()].every((c) => alphabet.includes(c))) throw new Error('not a number');
  let n = 0n;
  for (const c of digits.toLowerCase()) n = n * BigInt(base) + BigInt(alphabet.indexOf(c));
  return n;
}

function constructFloat(text: string, pos: Pos): number {
  let value = text.replaceAll('_', '').toLowerCase();
  let sign = 1;
  if (value.startsWith('-')) sign = -1;
  if (value.startsWith('-') || value.startsWith('+')) value = value.slice(1);
  if (value === '.inf') return sign * Infinity;
  if (value === '.nan') return NaN;
  const number = (s: string): number => {
    // Python's float(): digits with an optional dot and exponent.
    if (!/^(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?$/.test(s)) throw new LoadError(`"${text}" is not a float`, pos);
    return Number(s);
  };
  if (value.includes(':')) {
    let total = 0;
    for (const part of value.split(':')) total = total * 60 + number(part);
    return sign * total;
  }
  return sign * number(value);
}

/** base64.decodebytes: non-alphabet characters are skipped, padding is checked. */
function decodeBase64(text: string, pos: Pos): Uint8Array {
  if (/[^\x00-\x7f]/.test(text)) throw new LoadError('failed to convert base64 data into ascii', pos);
  const clean = text.replace(/[^A-Za-z0-9+/=]/g, '');
  const data = clean.split('=')[0]!;
  const padding = clean.length - data.length;
  if (data.length % 4 === 1) throw new LoadError('failed to decode base64 data: the number of data characters cannot be 1 more than a multiple of 4', pos);
  if (data.length % 4 !== 0 && padding < 4 - (data.length % 4)) throw new LoadError('failed to decode base64 data: incorrect padding', pos);
  return new Uint8Array(Buffer.from(data, 'base64'));
}

/** Python's str() of a key: what cloud-init prints in a schema path. */
export function keyName(node: YNode): string {
  switch (node.kind) {
    case 'str':
      return node.value;
    case 'int':
      return node.value.toString();
    case 'float':
      return pythonFloat(node.value);
    case 'bool':
      return node.value ? 'True' : 'False';
    case 'null':
      return 'None';
    case 'timestamp':
      return node.text;
    case 'bytes':
      return `b'${Buffer.from(node.value).toString('latin1')}'`;
    default:
      return '?';
  }
}

/** Identity of a key in a dict: "1" and 1 are different keys in Python. */
function mapKey(node: YNode): string {
  if (node.kind === 'str') return node.value;
  if (node.kind === 'int' || node.kind === 'float' || node.kind === 'bool') {
    // Python: True == 1 == 1.0 hash alike; a later one replaces the value.
    const n = node.kind === 'bool' ? (node.value ? 1 : 0) : Number(node.value);
    return `\u0000num:${n}`;
  }
  return `\u0000${node.kind}:${keyName(node)}`;
}

function pythonFloat(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  return Number.isInteger(n) ? `${n}.0` : String(n);
}

function shortTag(tag: string): string {
  return tag.startsWith(TAG) ? `!!${tag.slice(TAG.length)}` : tag;
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

/**
 * Plain JavaScript for ingot's own rules (runcmd strictness and the like):
 * maps become objects, ints numbers (bigint past 2^53), bytes a Uint8Array.
 */
export function toPlain(node: YNode): unknown {
  switch (node.kind) {
    case 'map': {
      const out: Record<string, unknown> = {};
      for (const e of node.entries.values())
        Object.defineProperty(out, e.name, { value: toPlain(e.value), enumerable: true, writable: true, configurable: true });
      return out;
    }
    case 'seq':
      return node.items.map(toPlain);
    case 'str':
      return node.value;
    case 'int':
      return node.value >= BigInt(Number.MIN_SAFE_INTEGER) && node.value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(node.value) : node.value;
    case 'float':
    case 'bool':
      return node.value;
    case 'null':
      return null;
    case 'bytes':
      return node.value;
    case 'timestamp':
      return node.text;
    case 'set':
      return node.members.map(toPlain);
    case 'pairs':
      return node.pairs.map(([k, v]) => [toPlain(k), toPlain(v)]);
  }
}
