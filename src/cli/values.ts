/**
 * Flag values with bounds: parsed and checked before any work, so a value the
 * program cannot use (an index valid "99999999d", a cap of Infinity bytes)
 * fails with exit 2 instead of after publishing.
 */
import { UsageError } from '../errors.js';
import { parseSize } from '../transform/decompress.js';
import { parseIndexExpiry, sizeBoundProblem } from '../util/bounds.js';

/** An index validity flag (--expires, --index-expires) in ms; undefined when not given. */
export function indexExpiryFlag(raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined) return undefined;
  const parsed = parseIndexExpiry(raw);
  if ('problem' in parsed) throw new UsageError(`${flag} ${parsed.problem}`, { hint: 'the validity of the signed index, e.g. 12h or 7d (at most 366d)' });
  return parsed.ms;
}

/** A size flag (e.g. --max-decompressed-size) in bytes; undefined when not given. */
export function sizeFlag(raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined) return undefined;
  const bytes = parseSize(raw);
  if (bytes === undefined) throw new UsageError(`${flag} must be a size like 64GiB, got "${raw}"`);
  const problem = sizeBoundProblem(bytes);
  if (problem) throw new UsageError(`${flag} "${raw}" ${problem}`);
  return bytes;
}
