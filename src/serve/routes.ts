/**
 * Request path → what to serve (pure). The raw path from the request line is
 * checked before anything else sees it: backslashes (raw or %5C), empty
 * segments ("//"), "." and ".." segments (raw or percent-encoded), encoded
 * slashes, control characters and malformed escapes are refused outright, so
 * no request can name a key outside the store. Which keys may be served at
 * all is decided here too: index.json(.minisig) and what lies under images/,
 * metadata/, boot/ and channels/.
 */
import { relativePathProblem } from '../store/keys.js';

/** Top-level prefixes whose objects are served. */
export const SERVED_PREFIXES = ['images/', 'metadata/', 'boot/', 'channels/'] as const;
/** Single objects served at the root. */
export const SERVED_ROOT_KEYS = ['index.json', 'index.json.minisig'] as const;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** What a request asks for. */
export type Route =
  | { kind: 'page' }
  | { kind: 'api-catalogue' }
  | { kind: 'api-objects'; prefix: string }
  | { kind: 'ipxe'; set: string }
  /** `served`: under a served prefix; otherwise only if it is a published image's key (custom destinationPrefix). */
  | { kind: 'object'; key: string; served: boolean }
  | { kind: 'refused'; status: 400 | 404; reason: string };

/** Routes a raw request target ("/images/a.raw?x=1"). */
export function route(target: string): Route {
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? '' : target.slice(q + 1);
  if (!rawPath.startsWith('/')) return refused(400, 'the request target must be an absolute path');
  if (/\\|%5c/i.test(rawPath)) return refused(400, 'backslashes are not allowed in paths');
  if (rawPath === '/' || rawPath === '/index.html') return { kind: 'page' };
  const rawSegments = rawPath.slice(1).split('/');
  if (rawSegments.some((s) => s === '')) return refused(400, 'empty path segments ("//" or a trailing "/") are not allowed');
  const segments: string[] = [];
  for (const raw of rawSegments) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return refused(400, 'malformed percent-encoding');
    }
    if (segment.includes('/')) return refused(400, 'encoded slashes are not allowed');
    if (segment === '.' || segment === '..') return refused(400, '"." and ".." segments are not allowed');
    if (/[\u0000-\u001f\u007f]/.test(segment)) return refused(400, 'control characters are not allowed');
    segments.push(segment);
  }
  const key = segments.join('/');
  if (key === 'api/v1/catalogue' || key === 'api/v1/catalogue.json') return { kind: 'api-catalogue' };
  if (key === 'api/v1/objects') {
    const prefix = new URLSearchParams(query).get('prefix') ?? '';
    const trimmed = prefix.replace(/\/$/, '');
    if (trimmed !== '' && relativePathProblem(trimmed)) return refused(400, `bad prefix: ${relativePathProblem(trimmed)}`);
    return { kind: 'api-objects', prefix };
  }
  const ipxe = /^boot\/([^/]+)\.ipxe$/.exec(key);
  if (ipxe) return NAME.test(ipxe[1]!) ? { kind: 'ipxe', set: ipxe[1]! } : refused(404, 'no such boot set');
  const problem = relativePathProblem(key);
  if (problem) return refused(404, `not a store key: ${problem}`);
  const served = (SERVED_ROOT_KEYS as readonly string[]).includes(key) || SERVED_PREFIXES.some((p) => key.startsWith(p));
  return { kind: 'object', key, served };
}

/** Whether a key listed by the backend may appear in the object listing (or be served). */
export function isServedKey(key: string): boolean {
  return (SERVED_ROOT_KEYS as readonly string[]).includes(key) || SERVED_PREFIXES.some((p) => key.startsWith(p));
}

function refused(status: 400 | 404, reason: string): Route {
  return { kind: 'refused', status, reason };
}
