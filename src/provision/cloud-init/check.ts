/**
 * Checks a loaded cloud-config against the schema data the way cloud-init
 * does: JSON-Schema draft 4 as jsonschema implements it, with cloud-init's
 * changes — `$ref` does not hide its sibling keywords, bytes count as
 * strings, `deprecated`/`changed` raise deprecations (warnings) that never
 * make a config invalid, and oneOf/anyOf treat a branch with only
 * deprecations as matching (reporting them). Formats: only `date` is checked,
 * as on a stock Debian/Ubuntu cloud-init (its jsonschema has no `uri` or
 * `hostname` checker installed).
 *
 * Validity follows cloud-init exactly; the messages are ingot's own: for a
 * failed oneOf the alternative that fits the value's type is explained
 * (with "did you mean" for unknown keys) instead of "not valid under any of
 * the given schemas".
 */
import { formatPath, suggest } from '../../manifest/problems.js';
import type { JsonScalar, JsonType, Schema, SchemaSet } from './schema-types.js';
import type { Pos, YEntry, YMap, YNode } from './yaml11.js';

export type IssueCode =
  | 'type'
  | 'enum'
  | 'unknown-key'
  | 'missing-field'
  | 'too-short'
  | 'too-long'
  | 'not-unique'
  | 'pattern'
  | 'range'
  | 'format'
  | 'one-of'
  | 'conflict'
  | 'deprecated';

/** One finding, with the path and the place it refers to. */
export interface Issue {
  code: IssueCode;
  /** Deprecations are warnings; everything else makes the config invalid. */
  deprecation: boolean;
  path: (string | number)[];
  message: string;
  hint?: string;
  pos: Pos;
}

interface Here {
  node: YNode;
  path: (string | number)[];
  /** The key this value sits under (for positions of empty values and missing keys). */
  key?: Pos;
}

/** Validates `root` against the schema set; returns every issue found. */
export function checkAgainstSchema(root: YNode, schemas: SchemaSet): Issue[] {
  return new Checker(schemas).check({ node: root, path: [] }, schemas.root);
}

class Checker {
  private readonly patterns = new Map<string, RegExp>();

  constructor(private readonly schemas: SchemaSet) {}

  check(here: Here, schema: Schema): Issue[] {
    const issues: Issue[] = [];
    const { node } = here;
    if (schema.$ref !== undefined) issues.push(...this.check(here, this.def(schema.$ref)));
    const typeFails = schema.type !== undefined && !typeMatches(node, schema.type);
    if (typeFails) {
      issues.push(this.issue(here, 'type', `expected ${describeTypes(schema.type!)}, got ${describeNode(node)}`, hintForType(node, schema.type!, here.path)));
    }
    // jsonschema reports the enum too; after a type error it only repeats it.
    if (schema.enum !== undefined && !typeFails && !schema.enum.some((value) => equalsJson(node, value))) {
      const strings = schema.enum.filter((v): v is string => typeof v === 'string');
      const guess = node.kind === 'str' ? suggest(node.value, strings) : undefined;
      issues.push(
        this.issue(here, 'enum', `${describeNode(node)} is not one of ${schema.enum.map(showJson).join(', ')}${guess ? `; did you mean "${guess}"?` : ''}`),
      );
    }
    if (node.kind === 'map') issues.push(...this.mapping(here, node, schema));
    if (node.kind === 'seq') issues.push(...this.sequence(here, node.items, schema));
    if ((node.kind === 'int' || node.kind === 'float') && (schema.minimum !== undefined || schema.maximum !== undefined)) {
      const n = Number(node.value);
      if (schema.minimum !== undefined && n < schema.minimum)
        issues.push(this.issue(here, 'range', `${showNode(node)} is less than the minimum ${schema.minimum}`));
      if (schema.maximum !== undefined && n > schema.maximum)
        issues.push(this.issue(here, 'range', `${showNode(node)} is more than the maximum ${schema.maximum}`));
    }
    if (node.kind === 'str') {
      if (schema.pattern !== undefined && !this.regex(schema.pattern).test(node.value)) {
        issues.push(this.issue(here, 'pattern', `${showNode(node)} does not match ${schema.pattern}`));
      }
      const length = [...node.value].length;
      if (schema.minLength !== undefined && length < schema.minLength)
        issues.push(this.issue(here, 'too-short', `${showNode(node)} is shorter than ${schema.minLength} characters`));
      if (schema.maxLength !== undefined && length > schema.maxLength)
        issues.push(this.issue(here, 'too-long', `${showNode(node)} is longer than ${schema.maxLength} characters`));
      if (schema.format === 'date' && !isIsoDate(node.value)) issues.push(this.issue(here, 'format', `${showNode(node)} is not a date (YYYY-MM-DD)`));
    }
    if (schema.allOf) for (const sub of schema.allOf) issues.push(...this.check(here, sub));
    if (schema.anyOf) issues.push(...this.anyOf(here, schema.anyOf));
    if (schema.oneOf) issues.push(...this.oneOf(here, schema.oneOf));
    if (schema.not && this.valid(here, schema.not)) issues.push(this.notIssue(here, schema.not));
    if (schema.deprecated) issues.push(this.deprecation(here, schema.deprecated_version, schema.deprecated_description));
    if (schema.changed) issues.push(this.deprecation(here, schema.changed_version, schema.changed_description));
    return issues;
  }

  private valid(here: Here, schema: Schema): boolean {
    return this.check(here, schema).every((i) => i.deprecation);
  }

  private def(name: string): Schema {
    const schema = this.schemas.defs[name];
    if (!schema) throw new Error(`cloud-config schema: no definition "${name}"`);
    return schema;
  }

  private mapping(here: Here, node: YMap, schema: Schema): Issue[] {
    const issues: Issue[] = [];
    const entries = [...node.entries.values()];
    const strKey = (e: YEntry) => e.key.kind === 'str';
    const child = (e: YEntry): Here => ({ node: e.value, path: [...here.path, e.name], key: e.key });
    if (schema.properties) {
      for (const e of entries) {
        const sub = strKey(e) ? (Object.hasOwn(schema.properties, e.name) ? schema.properties[e.name] : undefined) : undefined;
        if (sub) issues.push(...this.check(child(e), sub));
      }
    }
    const patterns = Object.entries(schema.patternProperties ?? {});
    for (const [pattern, sub] of patterns) {
      for (const e of entries) if (strKey(e) && this.regex(pattern).test(e.name)) issues.push(...this.check(child(e), sub));
    }
    if (schema.additionalProperties !== undefined && schema.additionalProperties !== true) {
      const known = Object.keys(schema.properties ?? {});
      const extra = entries.filter(
        (e) => !(strKey(e) && Object.hasOwn(schema.properties ?? {}, e.name)) && !(strKey(e) && patterns.some(([p]) => this.regex(p).test(e.name))),
      );
      for (const e of extra) {
        if (schema.additionalProperties === false) {
          const guess = suggest(e.name, known);
          const where = here.path.length ? `${formatPath(here.path)}: ` : '';
          issues.push({
            code: 'unknown-key',
            deprecation: false,
            path: [...here.path, e.name],
            message: `${where}unknown key "${e.name}"${guess ? `; did you mean "${guess}"?` : ''}`,
            hint:
              known.length && !guess
                ? `known keys here: ${known.slice(0, 12).join(', ')}${known.length > 12 ? ', …' : ''}`
                : !known.length && patterns.length
                  ? `keys here must match ${patterns.map(([p]) => p).join(' or ')}`
                  : 'cloud-init refuses keys its schema does not list',
            pos: { line: e.key.line, column: e.key.column },
          });
        } else {
          issues.push(...this.check(child(e), schema.additionalProperties));
        }
      }
    }
    for (const name of schema.required ?? []) {
      if (!entries.some((e) => strKey(e) && e.name === name)) issues.push(this.issue(here, 'missing-field', `"${name}" is required`, undefined, true));
    }
    if (schema.minProperties !== undefined && node.entries.size < schema.minProperties) {
      issues.push(
        this.issue(here, 'too-short', schema.minProperties === 1 ? 'must not be empty' : `needs at least ${schema.minProperties} keys`, undefined, true),
      );
    }
    if (schema.maxProperties !== undefined && node.entries.size > schema.maxProperties)
      issues.push(this.issue(here, 'too-long', `takes at most ${schema.maxProperties} keys`));
    return issues;
  }

  private sequence(here: Here, items: YNode[], schema: Schema): Issue[] {
    const issues: Issue[] = [];
    if (schema.items) for (const [i, item] of items.entries()) issues.push(...this.check({ node: item, path: [...here.path, i] }, schema.items));
    if (schema.minItems !== undefined && items.length < schema.minItems) {
      issues.push(
        this.issue(
          here,
          'too-short',
          items.length === 0 ? 'must not be empty' : `needs at least ${schema.minItems} items, got ${items.length}`,
          undefined,
          true,
        ),
      );
    }
    if (schema.maxItems !== undefined && items.length > schema.maxItems)
      issues.push(this.issue(here, 'too-long', `takes at most ${schema.maxItems} items, got ${items.length}`));
    if (schema.uniqueItems) {
      for (let i = 1; i < items.length; i++) {
        const j = items.findIndex((other, k) => k < i && deepEqual(other, items[i]!));
        if (j >= 0) {
          issues.push(
            this.issue({ node: items[i]!, path: [...here.path, i] }, 'not-unique', `repeats item ${j} (${showNode(items[i]!)}); items must be unique`),
          );
          break;
        }
      }
    }
    return issues;
  }

  /** cloud-init's anyOf: the first branch with no errors wins and brings its deprecations. */
  private anyOf(here: Here, alternatives: Schema[]): Issue[] {
    const tried: Issue[][] = [];
    for (const alternative of alternatives) {
      const issues = this.check(here, alternative);
      if (issues.every((i) => i.deprecation)) return issues;
      tried.push(issues);
    }
    return this.explain(here, alternatives, tried);
  }

  /** cloud-init's oneOf: as anyOf, and an error when a later branch matches too. */
  private oneOf(here: Here, alternatives: Schema[]): Issue[] {
    const tried: Issue[][] = [];
    for (let i = 0; i < alternatives.length; i++) {
      const issues = this.check(here, alternatives[i]!);
      if (issues.every((x) => x.deprecation)) {
        const alsoValid = alternatives.slice(i + 1).some((later) => this.valid(here, later));
        if (!alsoValid) return issues;
        const byKeys = alternatives.every((alt) => alt.required && Object.keys(alt).length === 1);
        return [
          byKeys
            ? this.issue(
                here,
                'one-of',
                `give only one of ${alternatives.map((alt) => alt.required!.map((k) => `"${k}"`).join(' and ')).join(', ')}`,
                undefined,
                true,
              )
            : this.issue(here, 'one-of', `${describeNode(node(here))} matches more than one of the allowed forms`),
        ];
      }
      tried.push(issues);
    }
    return this.explain(here, alternatives, tried);
  }

  /**
   * None of the alternatives matched: report the errors of the one meant
   * (its type fits the value), or list the expected forms.
   */
  private explain(here: Here, alternatives: Schema[], tried: Issue[][]): Issue[] {
    // Alternatives that only differ in which keys they require: say which sets would do.
    if (here.node.kind === 'map' && alternatives.every((alt) => alt.required && Object.keys(alt).length === 1)) {
      const sets = alternatives.map((alt) => alt.required!.map((k) => `"${k}"`).join(' and '));
      return [this.issue(here, 'missing-field', `needs ${sets.join(', or ')}`, undefined, true)];
    }
    const fitting = alternatives.map((alt, i) => ({ i, fits: this.typeFits(here.node, alt) })).filter((a) => a.fits);
    const forms = [...new Set(alternatives.map((alt) => this.describeSchema(alt)))];
    if (fitting.length > 0) {
      // Fewest errors first, then a declared type over a loose enum match, then the deepest.
      const best = fitting
        .map(({ i }) => ({ i, errors: tried[i]!.filter((x) => !x.deprecation), typed: this.declaresType(alternatives[i]!) }))
        .sort((a, b) => a.errors.length - b.errors.length || Number(b.typed) - Number(a.typed) || depth(b.errors) - depth(a.errors))[0]!;
      const onlyShallowType = best.errors.every((e) => e.code === 'type' && e.path.length === here.path.length);
      if (!onlyShallowType || fitting.length === 1) {
        if (forms.length < 2 || best.errors.some((e) => e.hint)) return best.errors;
        const others = [...new Set(alternatives.filter((_, i) => i !== best.i).map((alt) => this.describeSchema(alt)))];
        return best.errors.map((e) => (e.path.length === here.path.length ? { ...e, hint: `also allowed here: ${others.join(', ')}` } : e));
      }
    }
    const wantsString = alternatives.some((alt) => this.typeFits({ kind: 'str', value: '', line: 0, column: 0 }, alt));
    return [
      this.issue(
        here,
        'type',
        `expected ${forms.join(' or ')}, got ${describeNode(here.node)}`,
        wantsString ? hintForType(here.node, 'string', here.path) : undefined,
      ),
    ];
  }

  private declaresType(schema: Schema): boolean {
    return schema.type !== undefined || (schema.$ref !== undefined && this.def(schema.$ref).type !== undefined);
  }

  /** Whether a value's kind is allowed by the schema's type/enum (after $ref). */
  private typeFits(node: YNode, schema: Schema): boolean {
    const resolved =
      schema.$ref !== undefined && schema.type === undefined && schema.enum === undefined ? { ...this.def(schema.$ref), ...schema, $ref: undefined } : schema;
    if (resolved.type !== undefined) return typeMatches(node, resolved.type);
    if (resolved.enum !== undefined) return resolved.enum.some((v) => equalsJson(node, v) || (typeof v === 'string' && node.kind === 'str'));
    if (resolved.oneOf) return resolved.oneOf.some((alt) => this.typeFits(node, alt));
    if (resolved.anyOf) return resolved.anyOf.some((alt) => this.typeFits(node, alt));
    if (resolved.allOf) return resolved.allOf.every((alt) => this.typeFits(node, alt));
    return true;
  }

  private describeSchema(schema: Schema): string {
    const s = schema.$ref !== undefined ? { ...this.def(schema.$ref), ...schema, $ref: undefined } : schema;
    if (s.enum) return s.enum.map(showJson).join(' or ');
    if (s.type !== undefined) {
      const base = describeTypes(s.type);
      if (s.type === 'array' && s.items?.type !== undefined) return `a list of ${describeTypes(s.items.type, true)}`;
      return base;
    }
    if (s.oneOf) return s.oneOf.map((alt) => this.describeSchema(alt)).join(' or ');
    if (s.anyOf) return s.anyOf.map((alt) => this.describeSchema(alt)).join(' or ');
    if (s.properties || s.required) return 'a mapping';
    return 'a value';
  }

  private notIssue(here: Here, not: Schema): Issue {
    if (not.required && Object.keys(not).length === 1) {
      return this.issue(here, 'conflict', `give only one of ${not.required.map((k) => `"${k}"`).join(' and ')}`, 'they are two spellings of one setting', true);
    }
    return this.issue(here, 'conflict', `${describeNode(here.node)} is not allowed here`);
  }

  private deprecation(here: Here, version: string | undefined, note: string | undefined): Issue {
    const subject = here.path.length ? formatPath(here.path) : 'this';
    return {
      code: 'deprecated',
      deprecation: true,
      path: here.path,
      message: `${subject}: deprecated${version ? ` since cloud-init ${version}` : ''}${note ? `: ${note}` : ''}`,
      pos: here.key ?? { line: here.node.line, column: here.node.column },
    };
  }

  private issue(here: Here, code: IssueCode, message: string, hint?: string, atKey = false): Issue {
    const where = here.path.length ? `${formatPath(here.path)}: ` : '';
    const useKey = here.key && (atKey || here.node.empty);
    return {
      code,
      deprecation: false,
      path: here.path,
      message: `${where}${message}`,
      ...(hint ? { hint } : {}),
      pos: useKey ? { line: here.key!.line, column: here.key!.column } : { line: here.node.line, column: here.node.column },
    };
  }

  /** Python `re.search` semantics: `$` also matches before a final newline, `.` is not `\n` only. */
  private regex(pattern: string): RegExp {
    let compiled = this.patterns.get(pattern);
    if (!compiled) {
      compiled = new RegExp(pythonToJsRegex(pattern), 'u');
      this.patterns.set(pattern, compiled);
    }
    return compiled;
  }
}

function node(here: Here): YNode {
  return here.node;
}

function depth(issues: Issue[]): number {
  return Math.max(0, ...issues.map((i) => i.path.length));
}

/** Rewrites the Python-only bits of a `re` pattern for JavaScript. */
export function pythonToJsRegex(pattern: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      out += c + (pattern[i + 1] ?? '');
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      // A literal "-" between a range end and "]" is fine in both; "[ -_]" is a range in both.
      out += c;
      continue;
    }
    if (c === '[') inClass = true;
    if (c === '$') out += '(?=\\n?$)';
    else if (c === '.') out += '[^\\n]';
    else out += c;
  }
  return out;
}

/** jsonschema's draft-4 types, with bytes counted as strings (cloud-init's change). */
export function typeMatches(node: YNode, type: JsonType | JsonType[]): boolean {
  const types = Array.isArray(type) ? type : [type];
  return types.some((t) => {
    switch (t) {
      case 'string':
        return node.kind === 'str' || node.kind === 'bytes';
      case 'integer':
        return node.kind === 'int';
      case 'number':
        return node.kind === 'int' || node.kind === 'float';
      case 'boolean':
        return node.kind === 'bool';
      case 'null':
        return node.kind === 'null';
      case 'object':
        return node.kind === 'map';
      case 'array':
        return node.kind === 'seq';
      default:
        return false;
    }
  });
}

/** jsonschema's enum equality: true is not 1, 1 equals 1.0, strings compare exactly. */
function equalsJson(node: YNode, value: JsonScalar): boolean {
  if (value === null) return node.kind === 'null';
  if (typeof value === 'boolean') return node.kind === 'bool' && node.value === value;
  if (typeof value === 'number') return (node.kind === 'int' || node.kind === 'float') && Number(node.value) === value;
  return node.kind === 'str' && node.value === value;
}

function deepEqual(a: YNode, b: YNode): boolean {
  if ((a.kind === 'int' || a.kind === 'float') && (b.kind === 'int' || b.kind === 'float')) return Number(a.value) === Number(b.value);
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case 'str':
    case 'bool':
      return a.value === (b as typeof a).value;
    case 'null':
      return true;
    case 'bytes':
      return Buffer.from(a.value).equals(Buffer.from((b as typeof a).value));
    case 'timestamp':
      return a.text === (b as typeof a).text;
    case 'seq': {
      const other = (b as typeof a).items;
      return a.items.length === other.length && a.items.every((x, i) => deepEqual(x, other[i]!));
    }
    case 'map': {
      const other = (b as typeof a).entries;
      if (a.entries.size !== other.size) return false;
      for (const [k, e] of a.entries) {
        const o = other.get(k);
        if (!o || !deepEqual(e.value, o.value)) return false;
      }
      return true;
    }
    default:
      return a === b;
  }
}

/**
 * jsonschema's "date" format as Debian's cloud-init runs it (jsonschema 4.10 on
 * Python 3.11: `date.fromisoformat`), which also takes 20300101 and ISO week
 * dates (2030-W01-1). Newer jsonschema takes only YYYY-MM-DD; accepting the
 * wider set never refuses a config some cloud-init accepts.
 */
export function isIsoDate(text: string): boolean {
  let m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(text);
  if (m && (text.length === 10) === text.includes('-') && (text.length === 10 || text.length === 8)) {
    const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (y < 1 || mo < 1 || mo > 12 || d < 1) return false;
    return d <= [31, leap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1]!;
  }
  m = /^(\d{4})-W(\d{2})(?:-([1-7]))?$/.exec(text) ?? /^(\d{4})W(\d{2})([1-7])?$/.exec(text);
  if (!m) return false;
  const [y, week] = [Number(m[1]), Number(m[2])];
  if (y < 1 || week < 1) return false;
  // A year has 53 ISO weeks when it starts on a Thursday, or on a Wednesday in a leap year.
  const jan1 = new Date(Date.UTC(y, 0, 1));
  jan1.setUTCFullYear(y);
  const weekday = jan1.getUTCDay();
  return week <= (weekday === 4 || (weekday === 3 && leap(y)) ? 53 : 52);
}

function leap(y: number): boolean {
  return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
}

const TYPE_WORDS: Record<JsonType, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'a boolean',
  null: 'null',
  object: 'a mapping',
  array: 'a list',
};

function describeTypes(type: JsonType | JsonType[], plural = false): string {
  const types = Array.isArray(type) ? type : [type];
  const words = types.map((t) => (plural ? TYPE_WORDS[t].replace(/^an? /, '') + (t === 'null' ? '' : 's') : TYPE_WORDS[t]));
  return words.join(' or ');
}

/** "the integer 384", "a mapping", "the string "x"" — for messages. */
export function describeNode(node: YNode): string {
  switch (node.kind) {
    case 'map':
      return 'a mapping';
    case 'seq':
      return node.items.length ? 'a list' : 'an empty list';
    case 'null':
      return node.empty ? 'nothing (an empty value)' : 'null';
    case 'str':
      return `the string ${JSON.stringify(node.value)}`;
    case 'int':
      return `the integer ${node.value}`;
    case 'float':
      return `the number ${node.value}`;
    case 'bool':
      return `the boolean ${node.value}`;
    case 'bytes':
      return 'binary data (!!binary)';
    case 'timestamp':
      return `the date ${node.text} (YAML reads it as a date, not a string)`;
    case 'set':
      return 'a set (!!set)';
    case 'pairs':
      return 'a list of pairs (!!omap/!!pairs)';
  }
}

function showNode(node: YNode): string {
  switch (node.kind) {
    case 'str':
      return JSON.stringify(node.value);
    case 'int':
      return node.value.toString();
    case 'float':
    case 'bool':
      return String(node.value);
    default:
      return describeNode(node);
  }
}

function showJson(value: JsonScalar): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** What to do about a value YAML 1.1 read differently than its author meant. */
function hintForType(node: YNode, type: JsonType | JsonType[], path: readonly (string | number)[]): string | undefined {
  const types = Array.isArray(type) ? type : [type];
  if (!types.includes('string')) return undefined;
  if (node.kind === 'int' && path[path.length - 1] === 'permissions') {
    return `YAML 1.1 reads an unquoted 0${node.value.toString(8)} as the octal number ${node.value}; quote it: '0${node.value.toString(8)}'`;
  }
  if (node.kind === 'int' || node.kind === 'float') return 'YAML reads this as a number; quote it to keep it a string';
  if (node.kind === 'bool') return 'YAML 1.1 reads yes/no/on/off/true/false as booleans; quote it';
  if (node.kind === 'timestamp') return 'YAML 1.1 reads YYYY-MM-DD as a date; quote it';
  return undefined;
}
