/**
 * versions.yaml: the single source of truth for every artifact a profile
 * downloads — name, version, https URL, sha256, optional signature URL and
 * key fingerprint. `check` re-downloads each pin and compares digests;
 * `bump` fetches a new version, computes its digest and rewrites the pin in
 * place through the yaml Document API, so comments and key order survive.
 */
import { readFile, stat } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Document } from 'yaml';
import { download, type HttpOptions } from '../acquire/http-client.js';
import { HashingStream } from '../digest/hashing.js';
import { digestHex } from '../digest/digest.js';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { parseYaml, yaml } from '../manifest/yaml.js';
import { renderProblem } from '../manifest/problems.js';
import { isRecord } from './profile.js';
import { writeFileAtomic } from '../util/fs-atomic.js';

/** One pinned artifact. */
export interface Pin {
  name: string;
  version: string;
  url: string;
  /** Lowercase hex; undefined while the digest is not known yet (rendering refuses such a pin). */
  sha256: string | undefined;
  signature?: string;
  fingerprint?: string;
}

/** A loaded versions file: pins by name plus the document for in-place edits. */
export interface Versions {
  file: string;
  pins: Map<string, Pin>;
  doc: Document;
}

const SHA256 = /^[0-9a-f]{64}$/;

/** Reads and checks versions.yaml. */
export async function loadVersions(file: string): Promise<Versions> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new IngotError(ErrorCode.versionsInvalid, `versions file not found: ${file}`, {
      path: file,
      exitCode: ExitCode.usage,
      cause: error,
      hint: 'pass --versions FILE',
    });
  }
  return parseVersions(text, file);
}

/** Parses versions text (see loadVersions). */
export function parseVersions(text: string, file: string): Versions {
  const parsed = parseYaml(text, file);
  const bad = (message: string, hint?: string): never => {
    throw new IngotError(ErrorCode.versionsInvalid, `${file}: ${message}`, { path: file, exitCode: ExitCode.usage, hint });
  };
  if (parsed.problems.length) bad(parsed.problems.map((p) => renderProblem(p, text)).join('\n'));
  const data = parsed.data;
  if (!isRecord(data) || data.kind !== 'Versions' || !isRecord(data.pins)) bad('expected kind: Versions with a pins: mapping');
  const pins = new Map<string, Pin>();
  for (const [name, raw] of Object.entries((data as { pins: Record<string, unknown> }).pins)) {
    if (!isRecord(raw)) bad(`pin "${name}" must be a mapping`);
    const pin = raw as Record<string, unknown>;
    const version = pin.version === undefined ? undefined : String(pin.version);
    if (!version) bad(`pin "${name}" needs a version`);
    if (typeof pin.url !== 'string' || !pin.url.startsWith('https://'))
      bad(`pin "${name}" needs an https:// url`, 'plain http downloads are not verified in transit');
    // A pin may wait for its digest (sha256: null): `versions check` reports it, rendering refuses it.
    if (pin.sha256 !== null && pin.sha256 !== undefined && (typeof pin.sha256 !== 'string' || !SHA256.test(pin.sha256))) {
      bad(`pin "${name}" needs sha256: 64 lowercase hex digits (or null while it is not known)`);
    }
    pins.set(name, {
      name,
      version: version!,
      url: pin.url as string,
      sha256: typeof pin.sha256 === 'string' ? pin.sha256 : undefined,
      ...(typeof pin.signature === 'string' ? { signature: pin.signature } : {}),
      ...(typeof pin.fingerprint === 'string' ? { fingerprint: pin.fingerprint } : {}),
    });
  }
  return { file, pins, doc: parsed.doc };
}

/** The pin called `name`, or a usage error listing the known names. */
export function getPin(versions: Versions, name: string): Pin {
  const pin = versions.pins.get(name);
  if (!pin) {
    throw new IngotError(ErrorCode.versionsInvalid, `no pin named "${name}" in ${versions.file}`, {
      path: versions.file,
      exitCode: ExitCode.usage,
      hint: `known pins: ${[...versions.pins.keys()].join(', ') || '(none)'}`,
    });
  }
  return pin;
}

/** Downloads `url` and returns its sha256 (hex) and size; memory stays flat. */
export async function fetchDigest(url: string, http: HttpOptions = {}, signal?: AbortSignal): Promise<{ sha256: string; size: number }> {
  const { body } = await download(url, http, signal);
  const hashing = new HashingStream(['sha256']);
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  await pipeline(body, hashing, sink, { signal });
  return { sha256: digestHex(hashing.digest('sha256')), size: hashing.bytes };
}

/** The outcome of checking one pin. */
export type CheckResult =
  | { name: string; status: 'ok'; sha256: string; size: number }
  | { name: string; status: 'mismatch'; expected: string; actual: string; size: number }
  | { name: string; status: 'unpinned'; actual: string; size: number }
  | { name: string; status: 'error'; error: string };

/** Downloads every pin (or the named ones) and compares digests. */
export async function checkVersions(versions: Versions, opts: { names?: string[]; http?: HttpOptions; signal?: AbortSignal } = {}): Promise<CheckResult[]> {
  const names = opts.names?.length ? opts.names : [...versions.pins.keys()];
  const results: CheckResult[] = [];
  for (const name of names) {
    const pin = getPin(versions, name);
    try {
      const { sha256, size } = await fetchDigest(pin.url, opts.http, opts.signal);
      if (!pin.sha256) results.push({ name, status: 'unpinned', actual: sha256, size });
      else
        results.push(sha256 === pin.sha256 ? { name, status: 'ok', sha256, size } : { name, status: 'mismatch', expected: pin.sha256, actual: sha256, size });
    } catch (error) {
      if (opts.signal?.aborted) throw error;
      results.push({ name, status: 'error', error: (error as Error).message });
    }
  }
  return results;
}

/** What bump changed. */
export interface BumpResult {
  name: string;
  from: { version: string; url: string; sha256: string | undefined };
  to: { version: string; url: string; sha256: string; size: number };
}

/**
 * Fetches version `version` of pin `name` (from `url`, or the old URL with
 * the old version replaced), and rewrites the pin in `file` in place.
 */
export async function bumpVersion(
  file: string,
  name: string,
  version: string,
  opts: { url?: string; http?: HttpOptions; signal?: AbortSignal } = {},
): Promise<BumpResult> {
  const versions = await loadVersions(file);
  const pin = getPin(versions, name);
  const url = opts.url ?? pin.url.split(pin.version).join(version);
  if (!opts.url && url === pin.url) {
    throw new IngotError(ErrorCode.versionsInvalid, `cannot derive the URL of ${name} ${version}: the old URL does not contain "${pin.version}"`, {
      path: file,
      exitCode: ExitCode.usage,
      hint: 'pass --url',
    });
  }
  if (!url.startsWith('https://')) throw new IngotError(ErrorCode.versionsInvalid, `--url must be https://, got ${url}`, { exitCode: ExitCode.usage });
  const { sha256, size } = await fetchDigest(url, opts.http, opts.signal);
  const node = versions.doc.getIn(['pins', name], true);
  if (!yaml().isMap(node)) throw new IngotError(ErrorCode.versionsInvalid, `${file}: pin "${name}" is not a mapping`, { exitCode: ExitCode.usage });
  setKeepingStyle(node, 'version', version);
  setKeepingStyle(node, 'url', url);
  setKeepingStyle(node, 'sha256', sha256);
  const text = versions.doc.toString({ lineWidth: 0 });
  // Atomic and durable, keeping the file's mode: a crash never leaves half a versions file.
  await writeFileAtomic(file, text, (await stat(file)).mode & 0o777);
  return { name, from: { version: pin.version, url: pin.url, sha256: pin.sha256 }, to: { version, url, sha256, size } };
}

// Replace a scalar's value but keep its node (quotes, trailing comment).
function setKeepingStyle(map: import('yaml').YAMLMap, key: string, value: string) {
  const current = map.get(key, true);
  if (yaml().isScalar(current)) current.value = value;
  else map.set(key, value);
}
