/**
 * Loading a manifest in three steps — schema, rules, normalise — collecting
 * every problem with file:line:col before anything is attempted.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { z } from 'zod';
import { driverFor } from '../acquire/registry.js';
import { digestAlgorithm, type Algorithm, type Digest } from '../digest/digest.js';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { joinKey, normalisePrefix, type SafePath } from '../store/keys.js';
import { parseSize } from '../transform/decompress.js';
import { formatPath, ProblemCode, suggest, type Problem } from './problems.js';
import type { RuleContext, RuleReport } from './rule-context.js';
import { sourceRoot, type SourceRoot } from './root.js';
import { imageRules, manifestRules } from './rules.js';
import { envelopeSchema, imageSchema, knownKeysAt, type RawImage, type RawManifest } from './schema.js';
import { DEFAULT_MAX_DECOMPRESSED, type Image, type Manifest } from './types.js';
import { parseYaml, positionOf, type ParsedYaml } from './yaml.js';

export interface LoadResult {
  /** Present only when there are no errors. */
  manifest?: Manifest;
  problems: Problem[];
  text: string;
}

/** Reads and checks a manifest file. Throws only when the file cannot be read. */
export async function loadManifest(file: string): Promise<LoadResult> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new IngotError(ErrorCode.manifestNotFound, `cannot read manifest ${file}: ${code ?? (error as Error).message}`, {
      path: file,
      exitCode: ExitCode.usage,
      hint: code === 'ENOENT' ? 'pass -m FILE, or create one with `ingot init`' : undefined,
    });
  }
  return checkManifest(text, file);
}

/** Checks manifest text (`file` is used for messages and relative paths). */
export function checkManifest(text: string, file: string): LoadResult {
  const displayFile = path.relative(process.cwd(), file) || file;
  const parsed = parseYaml(text, displayFile);
  if (parsed.problems.length > 0) return { problems: parsed.problems, text };

  const problems: Problem[] = [];
  const envelope = envelopeSchema.safeParse(parsed.data);
  if (!envelope.success) {
    problems.push(...envelope.error.issues.flatMap((issue) => schemaProblems(issue, [], parsed, displayFile)));
    // Images can still be checked one by one when the list itself is readable.
  }
  const rawImages = (valueAt(parsed.data, ['spec', 'images']) as unknown[] | undefined) ?? [];
  const images: (RawImage | undefined)[] = Array.isArray(rawImages)
    ? rawImages.map((candidate, i) => {
        const result = imageSchema.safeParse(candidate);
        if (result.success) return result.data;
        problems.push(...result.error.issues.flatMap((issue) => schemaProblems(issue, ['spec', 'images', i], parsed, displayFile)));
        return undefined;
      })
    : [];

  const dir = path.dirname(path.resolve(file));
  const reportAt = (basePath: (string | number)[], image: string | undefined) => (r: RuleReport) => {
    const at = [...basePath, ...(r.at ?? [])];
    const pos = positionOf(parsed, at);
    problems.push({
      code: r.code,
      severity: r.severity ?? 'error',
      message: r.message,
      ...(r.hint ? { hint: r.hint } : {}),
      file: displayFile,
      ...pos,
      ...(image ? { image } : {}),
      path: at,
    });
  };
  const apiVersion = valueAt(parsed.data, ['apiVersion']);
  const specRoot = valueAt(parsed.data, ['spec', 'root']);
  const root = sourceRoot({
    manifestDir: dir,
    apiVersion: typeof apiVersion === 'string' ? apiVersion : undefined,
    root: typeof specRoot === 'string' ? specRoot : undefined,
    hasLocalSources: Array.isArray(rawImages) && rawImages.some((i) => LOCAL_SOURCES.has(String((i as { source?: { type?: unknown } } | null)?.source?.type))),
  });
  for (const problem of root.problems) reportAt([], undefined)(problem);
  const defaults = envelope.success ? envelope.data.spec.defaults : undefined;
  const checked: RawManifest = {
    ...(parsed.data as RawManifest),
    spec: { ...(envelope.success ? envelope.data.spec : {}), ...(defaults ? { defaults } : {}), images: images.filter((i): i is RawImage => i !== undefined) },
  };
  const imageNames = Array.isArray(rawImages)
    ? rawImages.map((i) => (i as { name?: unknown } | null)?.name).filter((n): n is string => typeof n === 'string')
    : [];
  images.forEach((image, i) => {
    const basePath = ['spec', 'images', i];
    // An image that failed the schema is still checked on the parts that passed it,
    // so one typo does not hide an http:// URL or a malformed digest beside it.
    const subject = image ?? partialImage(rawImages[i]);
    if (!subject) return;
    const ctx: RuleContext = { root: root.dir, basePath, image: subject.name, imageNames, report: reportAt(basePath, subject.name) };
    for (const rule of imageRules) {
      try {
        rule(subject, ctx, checked);
      } catch {
        // a part this rule needs did not pass the schema; that is reported already
      }
    }
  });
  // Manifest-wide rules see every readable image at its real index.
  const indexed = images.map((image, i) => image ?? looseImage(rawImages[i]));
  for (const rule of manifestRules) {
    rule({ ...checked, spec: { ...checked.spec, images: indexed } }, (at, r) => reportAt(at, imageNameAt(parsed.data, at))({ ...r, at: [] }));
  }
  if (!envelope.success) return { problems: sortProblems(problems), text };
  const raw: RawManifest = { ...envelope.data, spec: { ...envelope.data.spec, images: images as RawImage[] } };
  const sorted = sortProblems(problems);
  if (sorted.some((p) => p.severity === 'error')) return { problems: sorted, text };
  return { manifest: normalise(raw, path.resolve(file), parsed, root), problems: sorted, text };
}

/** Source types that read paths under spec.root. */
const LOCAL_SOURCES = new Set(['file', 'packer', 'initramfs']);

/** Applies defaults: destination prefix, algorithm, expected digest, size cap. */
function normalise(raw: RawManifest, file: string, parsed: ParsedYaml, root: SourceRoot): Manifest {
  const defaults = raw.spec.defaults;
  const prefix = normalisePrefix(defaults?.destinationPrefix ?? 'images/');
  const defaultAlgorithm: Algorithm = defaults?.validation?.algorithm ?? 'sha256';
  const defaultMax = defaults?.maxDecompressedSize === undefined ? DEFAULT_MAX_DECOMPRESSED : parseSize(defaults.maxDecompressedSize)!;
  const images = raw.spec.images.map((rawImage, i): Image => {
    const driver = driverFor(rawImage.source.type);
    const source = { ...rawImage.source, type: driver.types[0] } as Image['source'];
    const sourceChecksum = source.checksum ? (source.checksum.toLowerCase() as Digest) : undefined;
    const expected = rawImage.validation?.expected ? (rawImage.validation.expected.toLowerCase() as Digest) : source.decompress ? undefined : sourceChecksum;
    const algorithm = expected ? digestAlgorithm(expected) : (rawImage.validation?.algorithm ?? defaultAlgorithm);
    const max = (source as { maxDecompressedSize?: string | number }).maxDecompressedSize;
    const image = {
      name: rawImage.name,
      ...(rawImage.family ? { family: rawImage.family } : {}),
      ...(rawImage.version ? { version: rawImage.version } : {}),
      source,
      driver,
      path: rawImage.destination.path as SafePath,
      key: joinKey(prefix, rawImage.destination.path),
      algorithm,
      ...(expected ? { expected } : {}),
      ...(sourceChecksum ? { sourceChecksum } : {}),
      maxDecompressedSize: max === undefined ? defaultMax : parseSize(max)!,
      ...(rawImage.compatibility ? { compatibility: rawImage.compatibility } : {}),
    };
    // Looked up on first use: finding positions needs the full YAML document, which a JSON manifest skips.
    let line: number | undefined;
    return Object.defineProperty(image, 'line', { enumerable: true, get: () => (line ??= positionOf(parsed, ['spec', 'images', i]).line) }) as Image;
  });
  return {
    file,
    dir: path.dirname(file),
    apiVersion: raw.apiVersion,
    root: root.dir,
    rootHow: root.how,
    name: raw.metadata.name,
    ...(raw.spec.store?.url ? { storeUrl: raw.spec.store.url } : {}),
    destinationPrefix: prefix,
    ...(raw.spec.signing
      ? {
          signing: {
            ...(raw.spec.signing.key ? { keyFile: path.resolve(path.dirname(file), raw.spec.signing.key) } : {}),
            ...(raw.spec.signing.expires ? { expires: raw.spec.signing.expires } : {}),
          },
        }
      : {}),
    images,
    bootSets: raw.spec.bootSets ?? [],
  };
}

/** One zod issue → problems with positions and friendlier words. */
function schemaProblems(issue: z.core.$ZodIssue, prefix: (string | number)[], parsed: ParsedYaml, file: string): Problem[] {
  const at = [...prefix, ...issue.path.filter((p): p is string | number => typeof p !== 'symbol')];
  const image = imageNameAt(parsed.data, at);
  const base = { severity: 'error' as const, file, ...(image ? { image } : {}) };
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(at, parsed.data);
    return issue.keys.map((key) => {
      const guess = suggest(key, known);
      return {
        ...base,
        code: ProblemCode.unknownField,
        message: `unknown field "${key}"${at.length ? ` in ${formatPath(at)}` : ''}${guess ? `; did you mean "${guess}"?` : ''}`,
        hint: known.length ? `known fields here: ${known.join(', ')}` : undefined,
        ...positionOf(parsed, [...at, key], true),
        path: [...at, key],
      } as Problem;
    });
  }
  const value = valueAt(parsed.data, at);
  const missing = issue.code === 'invalid_type' && value === undefined;
  let message: string;
  let hint: string | undefined;
  if (missing) {
    message = `missing required field "${formatPath(at)}"`;
    hint = `add ${String(at[at.length - 1])}: …`;
  } else if (issue.code === 'invalid_union' && 'discriminator' in issue) {
    const options = (issue as { options?: unknown[] }).options ?? [];
    const guess = typeof value === 'string' ? suggest(value, options.map(String)) : undefined;
    message = `unknown ${formatPath(at)} "${String(value)}"${guess ? `; did you mean "${guess}"?` : ''}`;
    hint = `expected one of: ${options.join(', ')}`;
  } else if (issue.code === 'invalid_value') {
    const values = (issue as { values?: unknown[] }).values ?? [];
    message = `${formatPath(at)}: expected ${values.map((v) => JSON.stringify(v)).join(' or ')}, got ${JSON.stringify(value)}`;
  } else if (issue.code === 'invalid_type') {
    message = `${formatPath(at)}: expected ${issue.expected}, got ${describeType(value)}`;
  } else {
    message = `${formatPath(at) || 'manifest'}: ${issue.message}`;
  }
  return [
    {
      ...base,
      code: missing ? ProblemCode.missingField : ProblemCode.schema,
      message,
      ...(hint ? { hint } : {}),
      ...positionOf(parsed, at),
      path: at,
    },
  ];
}

/** The parts of a schema-failing image that pass the schema on their own (undefined if none do). */
function partialImage(candidate: unknown): RawImage | undefined {
  if (typeof candidate !== 'object' || candidate === null) return undefined;
  const c = candidate as Record<string, unknown>;
  const shape = imageSchema.shape;
  const part = <T>(schema: { safeParse(v: unknown): { success: boolean; data?: T } }, value: unknown): T | undefined => {
    const r = schema.safeParse(value);
    return r.success ? r.data : undefined;
  };
  const source = part(shape.source, c.source);
  const destination = part(shape.destination, c.destination);
  const validation = part(shape.validation, c.validation);
  if (!source && !destination) return undefined;
  return {
    name: typeof c.name === 'string' ? c.name : undefined,
    ...(source ? { source } : {}),
    ...(destination ? { destination } : {}),
    ...(validation ? { validation } : {}),
  } as unknown as RawImage;
}

/** Name and destination of an image that failed the schema, if they are readable. */
function looseImage(candidate: unknown): RawImage {
  const c = candidate as { name?: unknown; destination?: { path?: unknown } } | undefined;
  return {
    name: typeof c?.name === 'string' ? c.name : undefined,
    destination: { path: typeof c?.destination?.path === 'string' ? c.destination.path : undefined },
  } as unknown as RawImage;
}

function valueAt(data: unknown, at: readonly (string | number)[]): unknown {
  let value = data;
  for (const segment of at) value = (value as Record<string | number, unknown> | undefined)?.[segment];
  return value;
}

function imageNameAt(data: unknown, at: readonly (string | number)[]): string | undefined {
  if (at[0] !== 'spec' || at[1] !== 'images' || typeof at[2] !== 'number') return undefined;
  const name = (valueAt(data, at.slice(0, 3)) as { name?: unknown } | undefined)?.name;
  return typeof name === 'string' ? name : undefined;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function sortProblems(problems: Problem[]): Problem[] {
  return problems.sort((a, b) => a.line - b.line || a.column - b.column);
}
