/**
 * Digest values as ingot writes them: "<algorithm>:<lowercase hex>".
 * A `Digest` is branded so code that relies on a well-formed value can say so.
 */
import { IngotError, ErrorCode, ExitCode } from '../errors.js';

export const ALGORITHMS = { sha256: 64, sha512: 128 } as const satisfies Record<string, number>;
export type Algorithm = keyof typeof ALGORITHMS;
export type Digest = string & { readonly __brand: 'Digest' };

/** Why a digest string is malformed, or undefined if it is fine. */
export function digestProblem(value: string): string | undefined {
  const colon = value.indexOf(':');
  if (colon < 0) return `expected "<algorithm>:<hex>" such as "sha256:…", got "${truncate(value)}"`;
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  if (!isAlgorithm(algorithm)) {
    return `unknown digest algorithm "${truncate(algorithm)}"; expected one of ${Object.keys(ALGORITHMS).join(', ')}`;
  }
  const length = ALGORITHMS[algorithm];
  if (!/^[0-9a-fA-F]*$/.test(hex)) return `${algorithm} digest must be hexadecimal, got "${truncate(hex)}"`;
  if (hex.length !== length) return `${algorithm} digest must have ${length} hex digits, got ${hex.length}`;
  return undefined;
}

export function isAlgorithm(value: string): value is Algorithm {
  return Object.hasOwn(ALGORITHMS, value);
}

/** Parses and normalises (lowercase hex) a digest, throwing a usage error if malformed. */
export function parseDigest(value: string, where = 'digest'): Digest {
  const problem = digestProblem(value);
  if (problem) throw new IngotError(ErrorCode.manifestInvalid, `${where}: ${problem}`, { exitCode: ExitCode.usage });
  return value.toLowerCase() as Digest;
}

export function digestAlgorithm(digest: Digest): Algorithm {
  return digest.slice(0, digest.indexOf(':')) as Algorithm;
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export function formatDigest(algorithm: Algorithm, hex: string): Digest {
  return `${algorithm}:${hex.toLowerCase()}` as Digest;
}

function truncate(value: string): string {
  return value.length > 24 ? `${value.slice(0, 24)}…` : value;
}
