/**
 * The shape of ingot's cloud-config schema data: the JSON-Schema draft-4
 * keywords cloud-init's schema uses, plus its two annotations (`deprecated`
 * and `changed`, each with a version and a note). Kept as JSON Schema so the
 * data can be exported and checked by any draft-4 validator, and small
 * builders so the data file reads like the documentation it comes from.
 */

export type JsonType = 'string' | 'integer' | 'number' | 'boolean' | 'null' | 'object' | 'array';
export type JsonScalar = string | number | boolean | null;

export interface Schema {
  $ref?: string;
  type?: JsonType | JsonType[];
  enum?: JsonScalar[];
  properties?: Record<string, Schema>;
  patternProperties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  required?: string[];
  minProperties?: number;
  maxProperties?: number;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  /** A Python `re` pattern, searched (not anchored) as jsonschema does. */
  pattern?: string;
  format?: 'date' | 'uri' | 'hostname';
  oneOf?: Schema[];
  anyOf?: Schema[];
  allOf?: Schema[];
  not?: Schema;
  /** Using this (key or value) is deprecated: a warning, never an error. */
  deprecated?: boolean;
  deprecated_version?: string;
  deprecated_description?: string;
  /** The meaning of this value changed: a deprecation warning too. */
  changed?: boolean;
  changed_version?: string;
  changed_description?: string;
}

/** The whole schema: named definitions and the root. */
export interface SchemaSet {
  /** The cloud-init release whose documented keys this data describes. */
  version: string;
  defs: Record<string, Schema>;
  root: Schema;
}

type Extra = Omit<Schema, 'type' | 'properties' | 'items'>;

export const str = (extra: Extra = {}): Schema => ({ type: 'string', ...extra });
export const bool = (extra: Extra = {}): Schema => ({ type: 'boolean', ...extra });
export const int = (extra: Extra = {}): Schema => ({ type: 'integer', ...extra });
export const num = (extra: Extra = {}): Schema => ({ type: 'number', ...extra });
export const nul = (): Schema => ({ type: 'null' });
export const ref = (name: string, extra: Extra = {}): Schema => ({ $ref: name, ...extra });
export const oneOf = (...alternatives: Schema[]): Schema => ({ oneOf: alternatives });
export const anyOf = (...alternatives: Schema[]): Schema => ({ anyOf: alternatives });
export const enumOf = (...values: JsonScalar[]): Schema => ({ enum: values });
/** A string from a fixed set. */
export const choice = (...values: string[]): Schema => ({ type: 'string', enum: values });
/** A list whose items match `items` (any items when omitted). */
export const arr = (items?: Schema, extra: Extra = {}): Schema => ({ type: 'array', ...(items ? { items } : {}), ...extra });
/** A list of strings. */
export const strs = (extra: Extra = {}): Schema => arr(str(), extra);

/** A mapping that refuses keys it does not list (additionalProperties: false). */
export function strict(properties: Record<string, Schema>, extra: Extra & { untyped?: boolean } = {}): Schema {
  const { untyped, ...rest } = extra;
  return { ...(untyped ? {} : { type: 'object' as const }), additionalProperties: false, properties, ...rest };
}

/** A mapping whose listed keys are checked and whose other keys are allowed. */
export function open(properties: Record<string, Schema> = {}, extra: Extra & { untyped?: boolean } = {}): Schema {
  const { untyped, ...rest } = extra;
  return { ...(untyped ? {} : { type: 'object' as const }), ...(Object.keys(properties).length ? { properties } : {}), ...rest };
}

/** Marks a key or value deprecated since `version`; `use` names the replacement key. */
export function deprecated(version: string, note: string, schema: Schema = {}): Schema {
  return { ...schema, deprecated: true, deprecated_version: version, deprecated_description: note };
}

/** A deprecated alias of `replacement` with the same schema. */
export function alias(version: string, replacement: string, schema: Schema): Schema {
  return deprecated(version, `use "${replacement}" instead`, schema);
}

/** A value whose meaning changed in `version` (reported like a deprecation). */
export function changed(version: string, note: string, schema: Schema): Schema {
  return { ...schema, changed: true, changed_version: version, changed_description: note };
}
