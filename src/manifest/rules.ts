/**
 * Cross-field rules, each a small function that reports problems with a
 * dotted path. They run on schema-valid data; the loader turns paths into
 * line:column. Normalisation (defaults) happens in normalise.ts.
 */
import { driverFor } from '../acquire/registry.js';
import { digestAlgorithm, digestProblem, type Digest } from '../digest/digest.js';
import { joinKey, normalisePrefix, relativePathProblem } from '../store/keys.js';
import { keyCollisions, metadataKeyFor, reservedKeyProblem } from '../store/layout.js';
import { parseSize } from '../transform/decompress.js';
import { parseIndexExpiry, sizeBoundProblem } from '../util/bounds.js';
import { ProblemCode } from './problems.js';
import type { RuleContext } from './rule-context.js';
import type { RawImage, RawManifest } from './schema.js';

type ImageRule = (image: RawImage, ctx: RuleContext, manifest: RawManifest) => void;
type ManifestRule = (manifest: RawManifest, report: (path: (string | number)[], r: Parameters<RuleContext['report']>[0]) => void) => void;

/** Sources whose bytes come from outside must declare a digest. */
const DIGEST_REQUIRED = new Set(['https', 'http', 'file']);

const checksumDeclared: ImageRule = (image, ctx) => {
  if (DIGEST_REQUIRED.has(image.source.type) && !('checksum' in image.source && image.source.checksum)) {
    ctx.report({
      code: ProblemCode.checksumRequired,
      at: ['source'],
      message: 'missing source.checksum',
      hint: 'add checksum: sha256:<hex> from the publisher (for example its SHA256SUMS file); every download is verified',
    });
  }
};

const digestsWellFormed: ImageRule = (image, ctx) => {
  const source = image.source as { checksum?: string };
  if (source.checksum) {
    const problem = digestProblem(source.checksum);
    if (problem) ctx.report({ code: ProblemCode.digestMalformed, at: ['source', 'checksum'], message: `source.checksum: ${problem}` });
  }
  const expected = image.validation?.expected;
  if (expected) {
    const problem = digestProblem(expected);
    if (problem) ctx.report({ code: ProblemCode.digestMalformed, at: ['validation', 'expected'], message: `validation.expected: ${problem}` });
  }
};

const expectedWithDecompress: ImageRule = (image, ctx) => {
  const source = image.source as { decompress?: string; checksum?: string };
  if (source.decompress && !image.validation?.expected) {
    ctx.report({
      code: ProblemCode.expectedRequired,
      at: ['source', 'decompress'],
      message: `decompress: ${source.decompress} needs validation.expected (the digest of the decompressed bytes)`,
      hint: 'add validation: { expected: sha256:<hex of the decompressed image> }; the publisher often lists it, or compute it once with sha256sum',
    });
  }
  if (!source.decompress && source.checksum && image.validation?.expected && !digestProblem(source.checksum) && !digestProblem(image.validation.expected)) {
    const a = source.checksum.toLowerCase() as Digest;
    const b = image.validation.expected.toLowerCase() as Digest;
    if (digestAlgorithm(a) === digestAlgorithm(b) && a !== b) {
      ctx.report({
        code: ProblemCode.digestMalformed,
        at: ['validation', 'expected'],
        message: 'validation.expected differs from source.checksum but nothing is decompressed, so both can never match',
        hint: 'drop validation.expected, or add source.decompress if the download is compressed',
      });
    }
  }
};

const algorithmsAgree: ImageRule = (image, ctx) => {
  const declared = image.validation?.algorithm;
  const source = image.source as { decompress?: string; checksum?: string };
  const expected = image.validation?.expected ?? (source.decompress ? undefined : source.checksum);
  if (!declared || !expected || digestProblem(expected)) return;
  const actual = digestAlgorithm(expected as Digest);
  if (actual !== declared) {
    ctx.report({
      code: ProblemCode.algorithmMismatch,
      at: ['validation', 'algorithm'],
      message: `validation.algorithm is ${declared} but the expected digest${image.validation?.expected ? '' : ' (source.checksum)'} is ${actual}`,
      hint: `set algorithm: ${actual}, or give validation.expected as ${declared}:<hex>`,
    });
  }
};

const destinationSafe: ImageRule = (image, ctx) => {
  const problem = relativePathProblem(image.destination.path);
  if (problem) {
    ctx.report({
      code: ProblemCode.unsafePath,
      at: ['destination', 'path'],
      message: `destination.path ${problem}: "${image.destination.path}"`,
      hint: 'use a relative path such as "talos/talos-1.9.1-amd64.raw"',
    });
  }
};

/** The destinationPrefix as the store will use it, or undefined when it is itself unsafe or reserved (reported once, at the prefix). */
function usablePrefix(manifest: RawManifest): string | undefined {
  const prefix = normalisePrefix(manifest.spec.defaults?.destinationPrefix ?? 'images/');
  const bare = prefix.replace(/\/$/, '');
  if (bare !== '' && (relativePathProblem(bare) || reservedKeyProblem(bare))) return undefined;
  return prefix;
}

const destinationNotReserved: ImageRule = (image, ctx, manifest) => {
  const path = image.destination?.path;
  if (typeof path !== 'string' || relativePathProblem(path)) return;
  const prefix = usablePrefix(manifest);
  if (prefix === undefined) return;
  const key = joinKey(prefix, path);
  const problem = reservedKeyProblem(key);
  if (problem) {
    ctx.report({
      code: ProblemCode.reservedDestination,
      at: ['destination', 'path'],
      message: `destination "${key}"${prefix === '' ? '' : ` (destinationPrefix "${prefix}" + path)`} ${problem}: an image there would overwrite the store's own files`,
      hint: 'index.json*, metadata/, channels/, boot/ and ".ingot…" names belong to the store; use another path or keep the default destinationPrefix "images/"',
    });
  }
};

/** A size as written → the reason it is unusable (malformed or out of bounds), or undefined. */
export function sizeValueProblem(value: string | number): string | undefined {
  const bytes = parseSize(value);
  if (bytes === undefined) return `expected a size such as "64GiB", got "${value}"`;
  const bound = sizeBoundProblem(bytes);
  return bound ? `"${value}" ${bound}` : undefined;
}

function reportSize(value: string | number | undefined, report: (r: { code: string; message: string; hint?: string }) => void): void {
  if (value === undefined) return;
  const problem = sizeValueProblem(value);
  if (!problem) return;
  const malformed = parseSize(value) === undefined;
  report({
    code: malformed ? ProblemCode.sizeMalformed : ProblemCode.sizeOutOfRange,
    message: problem,
    ...(malformed ? {} : { hint: 'give a real cap such as "64GiB"; it bounds disk and memory when decompressing' }),
  });
}

const sizeWellFormed: ImageRule = (image, ctx) => {
  const value = (image.source as { maxDecompressedSize?: string | number }).maxDecompressedSize;
  reportSize(value, (r) => ctx.report({ ...r, at: ['source', 'maxDecompressedSize'] }));
};

const driverRules: ImageRule = (image, ctx) => {
  const driver = driverFor(image.source.type);
  driver.rules?.(image.source as never, {
    ...ctx,
    basePath: [...ctx.basePath, 'source'],
    report: (r) => ctx.report({ ...r, at: ['source', ...(r.at ?? [])] }),
  });
};

export const imageRules: readonly ImageRule[] = [
  checksumDeclared,
  digestsWellFormed,
  expectedWithDecompress,
  algorithmsAgree,
  destinationSafe,
  destinationNotReserved,
  sizeWellFormed,
  driverRules,
];

const uniqueNamesAndPaths: ManifestRule = (manifest, report) => {
  const names = new Map<string, number>();
  const paths = new Map<string, number>();
  manifest.spec.images.forEach((image, i) => {
    const firstName = image.name === undefined ? undefined : names.get(image.name);
    if (image.name === undefined) {
      // unreadable name: reported by the schema
    } else if (firstName !== undefined) {
      report(['spec', 'images', i, 'name'], {
        code: ProblemCode.duplicateName,
        message: `duplicate image name "${image.name}" (first used by image #${firstName + 1})`,
        hint: 'image names must be unique; include the version in the name',
      });
    } else names.set(image.name, i);
    const firstPath = image.destination.path === undefined ? undefined : paths.get(image.destination.path);
    if (image.destination.path === undefined) {
      // reported by the schema
    } else if (firstPath !== undefined) {
      report(['spec', 'images', i, 'destination', 'path'], {
        code: ProblemCode.duplicatePath,
        message: `duplicate destination.path "${image.destination.path}" (also used by "${manifest.spec.images[firstPath]?.name}")`,
        hint: 'two images would overwrite each other; give each its own path',
      });
    } else paths.set(image.destination.path, i);
  });
};

const prefixSafe: ManifestRule = (manifest, report) => {
  const prefix = manifest.spec.defaults?.destinationPrefix;
  if (prefix === undefined) return;
  const trimmed = prefix.replace(/\/+$/, '');
  const problem = trimmed === '' ? undefined : relativePathProblem(trimmed);
  const reserved = trimmed === '' || problem ? undefined : reservedKeyProblem(trimmed);
  if (problem || reserved) {
    report(['spec', 'defaults', 'destinationPrefix'], {
      code: problem ? ProblemCode.unsafePath : ProblemCode.reservedDestination,
      message: problem ? `destinationPrefix ${problem}` : `destinationPrefix "${prefix}" ${reserved}: images there would overwrite the store's own files`,
      hint: 'use a relative prefix such as "images/"',
    });
  }
};

const defaultSizeWellFormed: ManifestRule = (manifest, report) => {
  reportSize(manifest.spec.defaults?.maxDecompressedSize, (r) => report(['spec', 'defaults', 'maxDecompressedSize'], r));
};

const signingExpiryBounded: ManifestRule = (manifest, report) => {
  const expires = manifest.spec.signing?.expires;
  if (expires === undefined) return;
  const parsed = parseIndexExpiry(expires);
  if ('problem' in parsed) {
    report(['spec', 'signing', 'expires'], {
      code: ProblemCode.durationMalformed,
      message: `signing.expires ${parsed.problem}`,
      hint: 'the validity of the signed index, e.g. 12h or 7d (at most 366d); hosts refuse it after that',
    });
  }
};

/**
 * No two images may nest ("a" next to "a/b"): in a directory store one would
 * have to be a file and a directory at once, and their metadata documents
 * (metadata/<path>.json) can collide the same way ("a" vs "a.json/b").
 */
const destinationsDoNotNest: ManifestRule = (manifest, report) => {
  const prefix = usablePrefix(manifest);
  if (prefix === undefined) return;
  const keys: [string, number][] = [];
  const metaKeys: [string, number][] = [];
  manifest.spec.images.forEach((image, i) => {
    const path = image?.destination?.path;
    if (typeof path !== 'string' || relativePathProblem(path)) return;
    keys.push([joinKey(prefix, path), i]);
    metaKeys.push([metadataKeyFor(path), i]);
  });
  const reported = new Set<number>();
  const collisions = [...keyCollisions(keys).map((c) => ({ ...c, of: 'image' })), ...keyCollisions(metaKeys).map((c) => ({ ...c, of: 'metadata' }))];
  for (const c of collisions) {
    if (reported.has(c.nestedOwner)) continue;
    reported.add(c.nestedOwner);
    const other = manifest.spec.images[c.fileOwner];
    const owner = `image "${other?.name ?? `#${c.fileOwner + 1}`}"`;
    report(['spec', 'images', c.nestedOwner, 'destination', 'path'], {
      code: ProblemCode.destinationCollision,
      message:
        c.of === 'image'
          ? `"${c.nested}" needs "${c.file}" to be a directory, but ${owner} stores a file there`
          : `its metadata "${c.nested}" needs "${c.file}" to be a directory, but that is the metadata of ${owner}`,
      hint: 'a store path cannot be a file and a directory at once; give one of the two images another path',
    });
  }
};

const bootSetsConsistent: ManifestRule = (manifest, report) => {
  const images = new Map(manifest.spec.images.filter((i) => i.name !== undefined).map((i) => [i.name, i]));
  const seen = new Set<string>();
  (manifest.spec.bootSets ?? []).forEach((set, i) => {
    const at = ['spec', 'bootSets', i];
    if (seen.has(set.name)) report([...at, 'name'], { code: ProblemCode.duplicateName, message: `duplicate boot set name "${set.name}"` });
    seen.add(set.name);
    const nameProblem = relativePathProblem(`boot/${set.name}.json`);
    if (nameProblem || set.name.includes('/')) {
      report([...at, 'name'], {
        code: ProblemCode.unsafePath,
        message: `boot set name "${set.name}" must be a plain file name`,
        hint: 'use letters, digits, ".", "-" and "_"',
      });
    }
    for (const part of ['kernel', 'initramfs'] as const) {
      const ref = set[part].image;
      if (!images.has(ref)) {
        const names = [...images.keys()];
        report([...at, part, 'image'], {
          code: ProblemCode.unknownReference,
          message: `${part}.image "${ref}" is not an image in spec.images`,
          hint: names.length ? `images: ${names.join(', ')}` : 'declare the image in spec.images first',
        });
      }
    }
    const problem = digestProblem(set.kernel.configSha256);
    if (problem || !set.kernel.configSha256.startsWith('sha256:')) {
      report([...at, 'kernel', 'configSha256'], { code: ProblemCode.digestMalformed, message: `kernel.configSha256: ${problem ?? 'must be a sha256 digest'}` });
    }
    if (!set.compatibility.supportedProtocols.includes(set.initramfs.guestInitProtocol)) {
      report([...at, 'compatibility', 'supportedProtocols'], {
        code: ProblemCode.schema,
        message: `the initramfs speaks protocol ${set.initramfs.guestInitProtocol}, which supportedProtocols does not list`,
      });
    }
  });
};

export const manifestRules: readonly ManifestRule[] = [
  uniqueNamesAndPaths,
  prefixSafe,
  defaultSizeWellFormed,
  signingExpiryBounded,
  destinationsDoNotNest,
  bootSetsConsistent,
];
