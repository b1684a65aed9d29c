/**
 * The `packer` source: an image built by `packer build` from a template
 * directory beside the manifest. There is no declared digest; a fingerprint
 * of the template files, the variables and the packer version decides whether
 * a stored image is current, and `open()` builds and streams the artifact.
 */
import { readdirSync, statSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import { ErrorCode, IngotError } from '../errors.js';
import { ProblemCode } from '../manifest/problems.js';
import { relativePathProblem } from '../store/keys.js';
import { buildFingerprint, templateDigest } from '../packer/fingerprint.js';
import { ON_ERROR, SECRET_NAME, type OnError } from '../packer/vars.js';
import { assertRealInside, resolveInside } from './file.js';
import type { AcquireContext, BaseSource, SourceDriver, SourceFingerprint } from './source.js';

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export const packerSourceSchema = z
  .strictObject({
    type: z.literal('packer').describe('Build the image with packer.'),
    path: z
      .string()
      .describe(
        "Template directory (holding *.pkr.hcl or *.pkr.json), relative to spec.root (default: the manifest's directory; the Git repository's top level for the labctl form).",
      ),
    variables: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
      .optional()
      .describe('Template variables, passed as PKR_VAR_<name> environment variables (never on the command line).'),
    sensitive: z
      .array(z.string())
      .optional()
      .describe(
        'Variable names whose values are scrubbed from logs and errors and left out of the fingerprint. Names matching secret|password|token|credential|access_key|private_key|api_key are sensitive anyway.',
      ),
    artifact: z.string().describe('The built file to publish, relative to path (it may not leave it), e.g. "output/disk.raw".'),
    only: z.array(z.string().min(1)).optional().describe('Build only these sources (packer -only), e.g. ["qemu.main"].'),
    onError: z
      .enum([...ON_ERROR, 'ask'])
      .optional()
      .describe('What packer does when a build fails: cleanup (default), abort or run-cleanup-provisioner. "ask" is rejected: builds run unattended.'),
    force: z.boolean().optional().describe('Pass -force: packer deletes the previous output first (needed by builders such as qemu). Default false.'),
  })
  .describe('An image built by packer.');

export type PackerSource = z.infer<typeof packerSourceSchema> & BaseSource;

/** The variables as strings, the way packer receives them. */
export function packerVariables(source: Pick<PackerSource, 'variables'>): Record<string, string> {
  return Object.fromEntries(Object.entries(source.variables ?? {}).map(([k, v]) => [k, String(v)]));
}

/** Names whose values must never be shown: the listed ones plus secret-looking names. */
export function sensitiveNames(source: Pick<PackerSource, 'variables' | 'sensitive'>): Set<string> {
  const names = new Set(source.sensitive ?? []);
  for (const name of Object.keys(source.variables ?? {})) if (SECRET_NAME.test(name)) names.add(name);
  return names;
}

/** The top-level entry of the template dir that holds the artifact: left out of the fingerprint. */
function outputEntry(artifact: string): string {
  return artifact.split('/')[0]!;
}

interface Resolved {
  dir: string;
  artifactFile: string;
}

function resolve(source: PackerSource, ctx: Pick<AcquireContext, 'root' | 'image'>): Resolved {
  const dir = resolveInside(ctx.root, source.path);
  const artifactFile = resolveInside(dir, source.artifact);
  return { dir, artifactFile };
}

async function computeFingerprint(source: PackerSource, ctx: AcquireContext, dir: string) {
  // The runner (process supervision, machine-readable output) loads only when packer is asked.
  const { packerVersion } = await import('../packer/runner.js');
  const [version, template] = await Promise.all([
    packerVersion(ctx.env),
    templateDigest(dir, [outputEntry(source.artifact)]).catch((error: NodeJS.ErrnoException) => {
      throw new IngotError(ErrorCode.sourceNotFound, `cannot read packer template directory ${source.path}: ${error.code ?? error.message}`, {
        path: dir,
        image: ctx.image,
        hint: "source.path is relative to spec.root (default: the manifest's directory) and must hold *.pkr.hcl or *.pkr.json files",
        cause: error,
      });
    }),
  ]);
  const value = buildFingerprint({
    templateDigest: template.digest,
    packerVersion: version,
    variables: packerVariables(source),
    sensitive: sensitiveNames(source),
    ...(source.only ? { only: source.only } : {}),
    artifact: source.artifact,
  });
  return { value, version, templateDigest: template.digest, files: template.files };
}

export const packerDriver: SourceDriver<PackerSource> = {
  types: ['packer'],
  schema: packerSourceSchema as z.ZodType<PackerSource>,

  rules(source, ctx) {
    const pathProblem = relativePathProblem(source.path);
    if (pathProblem) {
      ctx.report({
        code: ProblemCode.unsafePath,
        at: ['path'],
        message: `packer path ${pathProblem}`,
        hint: "give the template directory relative to spec.root (default: the manifest's directory)",
      });
    } else {
      const full = path.join(ctx.root, source.path);
      let names: string[] | undefined;
      try {
        names = statSync(full).isDirectory() ? readdirSync(full) : undefined;
      } catch {
        names = undefined;
      }
      if (!names?.some((n) => n.endsWith('.pkr.hcl') || n.endsWith('.pkr.json'))) {
        ctx.report({
          code: ProblemCode.sourceMissing,
          at: ['path'],
          message: names
            ? `packer path "${source.path}" holds no *.pkr.hcl or *.pkr.json file`
            : `packer path "${source.path}" is not a directory (looked for ${full})`,
          hint: 'point path at the directory with the template; `ingot packer init` can generate one',
        });
      }
    }
    const artifactProblem = relativePathProblem(source.artifact);
    if (artifactProblem) {
      ctx.report({
        code: ProblemCode.unsafePath,
        at: ['artifact'],
        message: `packer artifact ${artifactProblem}`,
        hint: 'give the built file relative to the template directory, inside it',
      });
    }
    for (const name of Object.keys(source.variables ?? {})) {
      if (!VARIABLE_NAME.test(name)) {
        ctx.report({
          code: ProblemCode.schema,
          at: ['variables', name],
          message: `"${name}" is not a valid packer variable name`,
          hint: 'use letters, digits, "_" and "-", starting with a letter or "_"',
        });
      }
    }
    for (const [i, name] of (source.sensitive ?? []).entries()) {
      if (!(name in (source.variables ?? {}))) {
        ctx.report({
          code: ProblemCode.schema,
          severity: 'warning',
          at: ['sensitive', i],
          message: `sensitive lists "${name}", which is not in variables`,
          hint: `fine if it comes from the environment as PKR_VAR_${name}; otherwise remove it`,
        });
      }
    }
    for (const [i, only] of (source.only ?? []).entries()) {
      if (only.includes(','))
        ctx.report({
          code: ProblemCode.schema,
          at: ['only', i],
          message: `only entries are single build names, got "${only}"`,
          hint: 'list each build as its own item',
        });
    }
    if (source.onError === 'ask') {
      ctx.report({
        code: ProblemCode.schema,
        at: ['onError'],
        message: 'onError: ask needs someone at a terminal; ingot runs packer unattended',
        hint: 'use cleanup (default), abort (keep the failed instance for debugging) or run-cleanup-provisioner',
      });
    }
  },

  describe(source) {
    return { type: 'packer', path: source.path, artifact: source.artifact, ...(source.only ? { only: source.only } : {}) };
  },

  async fingerprint(source, ctx): Promise<SourceFingerprint> {
    const { dir } = resolve(source, ctx);
    const fp = await computeFingerprint(source, ctx, dir);
    return { value: fp.value, facts: { packerVersion: fp.version, templateDigest: fp.templateDigest } };
  },

  async open(source, ctx) {
    const { dir, artifactFile } = resolve(source, ctx);
    if (source.onError === 'ask')
      throw new IngotError(ErrorCode.manifestInvalid, 'onError: ask is not supported', {
        image: ctx.image,
        hint: 'use cleanup, abort or run-cleanup-provisioner',
      });
    // Fingerprint the inputs before the build can touch the directory (sync already did, while planning).
    const planned = ctx.fingerprint;
    const fp =
      planned && typeof planned.facts?.packerVersion === 'string' && typeof planned.facts.templateDigest === 'string'
        ? { value: planned.value, version: planned.facts.packerVersion, templateDigest: planned.facts.templateDigest }
        : await computeFingerprint(source, ctx, dir);
    const before = await fs.stat(artifactFile).catch(() => undefined);
    const log = ctx.log.child({ image: ctx.image });
    log.info(`packer build in ${source.path}`, { step: 'build', packer: fp.version });
    const { runPackerBuild } = await import('../packer/runner.js');
    const build = await runPackerBuild({
      dir,
      variables: packerVariables(source),
      sensitive: sensitiveNames(source),
      ...(source.only ? { only: source.only } : {}),
      ...(source.onError ? { onError: source.onError as OnError } : {}),
      ...(source.force ? { force: true } : {}),
      env: ctx.env,
      signal: ctx.signal,
      log,
    });
    const reported = build.artifacts.flatMap((a) => a.files.map((f) => path.resolve(dir, f)));
    const after = await fs.stat(artifactFile).catch(() => undefined);
    if (after) assertRealInside(dir, artifactFile, source.artifact);
    const stale = before && after && before.mtimeMs === after.mtimeMs && before.ino === after.ino && !reported.includes(artifactFile);
    if (!after?.isFile() || stale) {
      throw new IngotError(ErrorCode.packerArtifactMissing, `packer build ${stale ? 'did not rewrite' : 'did not produce'} ${source.artifact}`, {
        path: artifactFile,
        image: ctx.image,
        hint: `set source.artifact to the file the build writes (packer reported: ${reported.map((f) => path.relative(dir, f)).join(', ') || 'no files'})`,
      });
    }
    const producer = build.artifacts.find((a) => a.files.some((f) => path.resolve(dir, f) === artifactFile)) ?? build.artifacts[0];
    const handle = await fs.open(artifactFile, 'r');
    const { size } = await handle.stat();
    // The handle's own stream closes the handle (not just the fd) when done.
    const stream = handle.createReadStream({ highWaterMark: 1 << 20 });
    return {
      stream,
      size,
      facts: {
        ...this.describe(source),
        packerVersion: fp.version,
        ...(producer?.builderId ? { builderId: producer.builderId } : {}),
        ...(producer?.id ? { artifactId: producer.id } : {}),
        durationMs: build.durationMs,
        templateDigest: fp.templateDigest,
        fingerprint: fp.value,
      },
    };
  },
};
