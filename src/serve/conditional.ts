/**
 * HTTP conditional and range requests for one object (pure): If-Match,
 * If-None-Match, If-Modified-Since, If-Range and a single `bytes=` Range, as
 * RFC 9110 orders them. Multiple ranges are answered with the whole object
 * (allowed: a server may ignore Range), which every download client handles.
 */

/** What the server knows about the object. */
export interface Representation {
  size: number;
  /** Strong entity tag, already quoted: "\"abc\"". */
  etag: string;
  /** HTTP-date of the last change, if known. */
  lastModified?: string;
}

/** The headers that matter. */
export interface ConditionalHeaders {
  method: string;
  ifMatch?: string;
  ifNoneMatch?: string;
  ifModifiedSince?: string;
  ifRange?: string;
  range?: string;
}

/** The answer: a status and, for 206, the inclusive byte range. */
export type Decision = { status: 200 } | { status: 206; start: number; end: number } | { status: 304 } | { status: 412 } | { status: 416 };

/** Decides the status of a GET/HEAD for `rep`. */
export function decide(h: ConditionalHeaders, rep: Representation): Decision {
  if (h.ifMatch !== undefined && !matchesAny(h.ifMatch, rep.etag, false)) return { status: 412 };
  if (h.ifNoneMatch !== undefined) {
    if (matchesAny(h.ifNoneMatch, rep.etag, true)) return { status: 304 };
  } else if (h.ifModifiedSince !== undefined && rep.lastModified) {
    const since = Date.parse(h.ifModifiedSince);
    const modified = Date.parse(rep.lastModified);
    if (!Number.isNaN(since) && !Number.isNaN(modified) && modified <= since) return { status: 304 };
  }
  if (h.range === undefined || h.method !== 'GET') return { status: 200 };
  if (h.ifRange !== undefined && !ifRangeHolds(h.ifRange, rep)) return { status: 200 };
  const range = parseRange(h.range, rep.size);
  if (range === 'ignore') return { status: 200 };
  if (range === 'unsatisfiable') return { status: 416 };
  return { status: 206, ...range };
}

/**
 * Parses a Range header against a size: one `bytes=` range → inclusive
 * start/end; several ranges or a syntax error → 'ignore'; a range that starts
 * past the end (or any range of an empty object) → 'unsatisfiable'.
 */
export function parseRange(header: string, size: number): { start: number; end: number } | 'ignore' | 'unsatisfiable' {
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) return 'ignore';
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return 'ignore';
  if (first === '') {
    const suffix = Number(last);
    if (!Number.isSafeInteger(suffix)) return 'ignore';
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Number(last);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || (last !== '' && end < start)) return 'ignore';
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(end, size - 1) };
}

/** If-Range: an entity tag must match strongly; a date must equal Last-Modified exactly. */
function ifRangeHolds(value: string, rep: Representation): boolean {
  const v = value.trim();
  if (v.startsWith('"') || v.startsWith('W/')) return !v.startsWith('W/') && v === rep.etag;
  return rep.lastModified !== undefined && Date.parse(v) === Date.parse(rep.lastModified);
}

/** A list of entity tags (or "*") against ours; `weak` comparison ignores W/ prefixes. */
function matchesAny(list: string, etag: string, weak: boolean): boolean {
  if (list.trim() === '*') return true;
  const opaque = (t: string) => (weak ? t.replace(/^W\//, '') : t);
  return (list.match(/(?:W\/)?"[^"]*"/g) ?? []).some((t) => (weak || !t.startsWith('W/')) && opaque(t) === opaque(etag));
}
