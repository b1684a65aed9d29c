/**
 * Problems found in a manifest: each has a stable code, a message, a place in
 * the file and, where we know one, what to do. `validate` reports all of them.
 */
export type Severity = 'error' | 'warning';

export interface Problem {
  code: string;
  severity: Severity;
  message: string;
  hint?: string;
  file: string;
  line: number;
  column: number;
  /** The image's name, when the problem is inside one. */
  image?: string;
  /** Path in the document, e.g. ["spec", "images", 0, "source", "url"]. */
  path: (string | number)[];
}

/** Problem codes (also the `code` in `validate --json`). */
export const ProblemCode = {
  yamlSyntax: 'yaml-syntax',
  yamlDuplicateKey: 'yaml-duplicate-key',
  yamlAliases: 'yaml-alias-limit',
  schema: 'schema',
  unknownField: 'unknown-field',
  missingField: 'missing-field',
  notHttps: 'https-only',
  checksumRequired: 'checksum-required',
  expectedRequired: 'expected-required',
  digestMalformed: 'digest-malformed',
  algorithmMismatch: 'algorithm-mismatch',
  duplicateName: 'duplicate-name',
  duplicatePath: 'duplicate-destination',
  unsafePath: 'unsafe-path',
  sourceMissing: 'source-missing',
  sizeMalformed: 'size-malformed',
  unknownReference: 'unknown-reference',
  duplicateEntry: 'duplicate-entry',
  reservedDestination: 'reserved-destination',
  destinationCollision: 'destination-collision',
  sizeOutOfRange: 'size-out-of-range',
  durationMalformed: 'duration-malformed',
} as const;

/** "a.b[0].c" for messages. */
export function formatPath(path: readonly (string | number)[]): string {
  return path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${part}` : part), '');
}

/** Closest candidate by edit distance, for "did you mean". */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** How many problems a printed report shows before "… and N more" (--json lists them all). */
export const REPORT_LIMIT = 100;

// The last text split into lines: rendering thousands of problems of one file splits it once, not once each.
let splitCache: { text: string; lines: readonly string[] } | undefined;

/** `text` as lines (cached for the most recent text, so per-problem rendering stays linear). */
export function sourceLines(text: string): readonly string[] {
  if (splitCache?.text !== text) splitCache = { text, lines: text.split(/\r?\n/) };
  return splitCache.lines;
}

/**
 * Renders problems of one file, at most `limit` of them, then one line
 * "… and N more problems". Linear in the number of problems and the text.
 */
export function renderProblems(problems: readonly Problem[], sourceText?: string, limit = REPORT_LIMIT): string[] {
  const lines = sourceText === undefined ? undefined : sourceLines(sourceText);
  const shown = problems.slice(0, limit).map((p) => renderProblem(p, lines));
  const more = problems.length - shown.length;
  if (more > 0) shown.push(`… and ${more} more problem${more === 1 ? '' : 's'} (\`ingot validate --json\` lists them all)`);
  return shown;
}

/** Renders one problem the way compilers do: file:line:col, message, caret, hint. */
export function renderProblem(problem: Problem, source?: string | readonly string[]): string {
  const where = `${problem.file}:${problem.line}:${problem.column}`;
  const subject = problem.image ? ` (image "${problem.image}")` : '';
  const lines = [`${where}: ${problem.severity}: ${problem.message}${subject} [${problem.code}]`];
  const text = (typeof source === 'string' ? sourceLines(source) : source)?.[problem.line - 1];
  if (text !== undefined && problem.line > 0) {
    lines.push(`  ${text}`, `  ${' '.repeat(Math.max(0, problem.column - 1))}^`);
  }
  if (problem.hint) lines.push(`  hint: ${problem.hint}`);
  return lines.join('\n');
}
