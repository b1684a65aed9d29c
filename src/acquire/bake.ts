/**
 * The `bake` source: an image built from another image of the manifest (its
 * base) plus profiles, proven by a verification boot and optionally scanned
 * (src/bake). No declared digest: a fingerprint of the base's digest, the
 * rendered build user-data, the versions.yaml pins it uses and the bake
 * recipe version decides whether the stored image is current.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import { fetchVerified, imageNamed, knownDigest } from '../bake/inputs.js';
import { BAKE_RECIPE_VERSION, BAKE_SET_KEYS, BUILDER_USER } from '../bake/recipe.js';
import { ErrorCode, IngotError } from '../errors.js';
import { ProblemCode, suggest } from '../manifest/problems.js';
import { resolveProfile, type ResolvedProfile } from '../provision/merge.js';
import { shippedProfilesDir } from '../provision/paths.js';
import { IDENTITY_KEYS, loadProfileFile, type ProfileFile } from '../provision/profile.js';
import { renderUserData } from '../provision/render.js';
import { loadVersions, type Versions } from '../provision/versions.js';
import { relativePathProblem } from '../store/keys.js';
import { parseSize } from '../transform/decompress.js';
import { resolveInside } from './file.js';
import type { AcquireContext, BaseSource, SourceDriver, SourceFingerprint } from './source.js';

export const bakeSourceSchema = z
  .strictObject({
    type: z.literal('bake').describe('Bake an image from another image of this manifest plus profiles.'),
    base: z.string().min(1).describe('Name of the base image in this manifest (a qcow2 cloud image), verified before use.'),
    kernel: z.string().min(1).optional().describe('Name of a kernel image in this manifest, for bases without a bootloader (direct kernel boot).'),
    initrd: z.string().min(1).optional().describe('Name of the initrd image in this manifest, with kernel.'),
    append: z.string().optional().describe('Kernel command line with kernel (default "root=/dev/vda rw console=ttyS0").'),
    profiles: z.array(z.string().min(1)).min(1).describe('Profiles applied in order (their system-level parts; identity comes at deploy time).'),
    profilesDir: z
      .string()
      .optional()
      .describe("Directory of the profiles, relative to spec.root (default: profiles/ there if it exists, else ingot's shipped profiles)."),
    versions: z.string().optional().describe('versions.yaml with the pins, relative to spec.root (default: versions.yaml in the profiles directory).'),
    set: z
      .record(z.string(), z.string())
      .optional()
      .describe(`Build-time parameters (${BAKE_SET_KEYS.join(', ')}); never identity.`),
    disk: z
      .union([z.number().int().positive(), z.string()])
      .optional()
      .describe('Virtual disk size of the baked image, e.g. "8GiB" (default: the base image size).'),
    format: z.enum(['qcow2', 'raw']).optional().describe('qcow2 (compressed, default) or raw.'),
    verify: z.array(z.string().min(1)).optional().describe('Extra shell checks run as root in the verification boot.'),
    verifyBoot: z.boolean().optional().describe('Boot the baked image to verify it before publishing (default true).'),
    scan: z
      .strictObject({
        profile: z.string().min(1).optional().describe('XCCDF profile (default "standard").'),
        required: z.array(z.string().min(1)).optional().describe('Rule ids that must pass, or the bake fails (e.g. sshd_disable_root_login).'),
        content: z.string().optional().describe('A SCAP datastream file (default: the SCAP Security Guide content for the guest).'),
      })
      .optional()
      .describe('OpenSCAP scan of the baked image; the ARF result and HTML report are published next to it.'),
    cpus: z.number().int().min(1).max(64).optional().describe('vCPUs of the builder VM (default 2).'),
    memory: z.string().optional().describe('Memory of the builder VM (default "2G").'),
    timeout: z.number().int().positive().optional().describe('Seconds the whole bake may take (default 3600).'),
  })
  .describe('An image baked from a base image and profiles.');

export type BakeSource = z.infer<typeof bakeSourceSchema> & BaseSource;

/** Options of a bake run that do not come from the manifest (`ingot bake` flags). */
export interface BakeRunOptions {
  keepOnFailure?: boolean;
  verifyBoot?: boolean;
  accel?: 'auto' | 'kvm' | 'tcg';
}

const runOptions = new WeakMap<AbortSignal, BakeRunOptions>();
/** Attaches `ingot bake` flags to a run (keyed by its abort signal). */
export function setBakeRunOptions(signal: AbortSignal, options: BakeRunOptions): void {
  runOptions.set(signal, options);
}

/** The placeholder the builder key takes in the fingerprinted user-data (the real key is new for every build). */
const KEY_PLACEHOLDER = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI-generated-per-build ingot-bake-builder';

interface Prepared {
  profile: ResolvedProfile;
  versions?: Versions;
  pins: Record<string, { version: string; url: string; sha256: string | null }>;
  readonlyRoot: boolean;
  render: (key: string) => string;
}

function profilesDirOf(source: BakeSource, root: string): string {
  if (source.profilesDir) return resolveInside(root, source.profilesDir);
  const local = path.join(root, 'profiles');
  if (existsSync(local)) return local;
  const shipped = shippedProfilesDir();
  if (!shipped)
    throw new IngotError(ErrorCode.bakeInput, 'no profiles directory: none beside the manifest and no shipped profiles', { hint: 'set source.profilesDir' });
  return shipped;
}

/** Resolves the profiles (plus `set`) into one profile and renders the build user-data. */
async function prepare(source: BakeSource, ctx: Pick<AcquireContext, 'root' | 'image'>): Promise<Prepared> {
  const dir = profilesDirOf(source, ctx.root);
  const synthetic = path.join(dir, `.ingot-bake-${ctx.image}.yaml`);
  const set = source.set ?? {};
  const own: ProfileFile = {
    name: `bake:${ctx.image}`,
    file: synthetic,
    includes: source.profiles,
    parts: {
      cloudConfig: { ...(set.timezone ? { timezone: set.timezone } : {}), ...(set.locale ? { locale: set.locale } : {}) },
      sysctl: {},
      units: [],
      downloads: [],
      launch: [],
    },
  };
  const profile = await resolveProfile(dir, synthetic, async (file) => (file === synthetic ? own : loadProfileFile(file)));
  const versionsFile = source.versions ? resolveInside(ctx.root, source.versions) : path.join(dir, 'versions.yaml');
  const versions = profile.parts.downloads.length ? await loadVersions(versionsFile) : undefined;
  const pins = Object.fromEntries(
    profile.parts.downloads.map((d) => {
      const pin = versions?.pins.get(d.pin);
      return [d.pin, { version: pin?.version ?? '?', url: pin?.url ?? '?', sha256: pin?.sha256 ?? null }];
    }),
  );
  const render = (key: string) => renderUserData(profile, { user: BUILDER_USER, sshKeys: [key] }, versions).text;
  render(KEY_PLACEHOLDER); // renders (and so checks pins) now, before anything boots
  const readonlyRoot = profile.files.some((f) => path.basename(f) === 'readonly-root.yaml');
  return { profile, ...(versions ? { versions } : {}), pins, readonlyRoot, render };
}

async function computeFingerprint(source: BakeSource, ctx: AcquireContext) {
  const prepared = await prepare(source, ctx);
  const base = await knownDigest(imageNamed(source.base, ctx, 'base'), ctx, 'base');
  const kernel = source.kernel ? await knownDigest(imageNamed(source.kernel, ctx, 'kernel'), ctx, 'kernel') : undefined;
  const initrd = source.initrd ? await knownDigest(imageNamed(source.initrd, ctx, 'initrd'), ctx, 'initrd') : undefined;
  const userData = prepared.render(KEY_PLACEHOLDER);
  const inputs = {
    recipe: BAKE_RECIPE_VERSION,
    base,
    ...(kernel ? { kernel } : {}),
    ...(initrd ? { initrd } : {}),
    ...(source.append ? { append: source.append } : {}),
    userData: createHash('sha256').update(userData).digest('hex'),
    pins: prepared.pins,
    readonlyRoot: prepared.readonlyRoot,
    launchSteps: prepared.profile.parts.launch.length,
    disk: source.disk ?? null,
    format: source.format ?? 'qcow2',
    verify: source.verify ?? [],
    scan: source.scan ?? null,
  };
  const value = `sha256:${createHash('sha256').update(JSON.stringify(inputs)).digest('hex')}`;
  return { value, inputs, prepared };
}

export const bakeDriver: SourceDriver<BakeSource> = {
  types: ['bake'],
  schema: bakeSourceSchema as z.ZodType<BakeSource>,

  rules(source, ctx) {
    const names = ctx.imageNames;
    for (const field of ['base', 'kernel', 'initrd'] as const) {
      const value = source[field];
      if (value === undefined || !names) continue;
      if (value === ctx.image)
        ctx.report({
          code: ProblemCode.unknownReference,
          at: [field],
          message: `bake ${field} "${value}" is this image itself`,
          hint: 'name another image of this manifest',
        });
      else if (!names.includes(value)) {
        const guess = suggest(value, names);
        ctx.report({
          code: ProblemCode.unknownReference,
          at: [field],
          message: `bake ${field} "${value}" is not an image of this manifest${guess ? `; did you mean "${guess}"?` : ''}`,
          hint: `images: ${names.filter((n) => n !== ctx.image).join(', ') || '(none)'}`,
        });
      }
    }
    if ((source.kernel === undefined) !== (source.initrd === undefined))
      ctx.report({
        code: ProblemCode.missingField,
        at: [source.kernel ? 'initrd' : 'kernel'],
        message: 'kernel and initrd go together',
        hint: 'give both (direct kernel boot), or neither (the base boots with its own bootloader)',
      });
    if (source.append !== undefined && source.kernel === undefined)
      ctx.report({ code: ProblemCode.schema, at: ['append'], message: 'append has no meaning without kernel' });
    let dir: string | undefined;
    if (source.profilesDir !== undefined) {
      const problem = relativePathProblem(source.profilesDir);
      if (problem)
        ctx.report({ code: ProblemCode.unsafePath, at: ['profilesDir'], message: `profilesDir ${problem}`, hint: 'give a directory relative to spec.root' });
      else {
        dir = path.join(ctx.root, source.profilesDir);
        if (!existsSync(dir) || !statSync(dir).isDirectory())
          ctx.report({
            code: ProblemCode.sourceMissing,
            at: ['profilesDir'],
            message: `profilesDir "${source.profilesDir}" is not a directory (looked for ${dir})`,
          });
      }
    } else {
      dir = existsSync(path.join(ctx.root, 'profiles')) ? path.join(ctx.root, 'profiles') : shippedProfilesDir();
    }
    if (dir && existsSync(dir)) {
      const known = existsSync(dir) ? listProfiles(dir) : [];
      source.profiles.forEach((name, i) => {
        if (name.endsWith('.yaml') || name.endsWith('.yml') ? existsSync(path.resolve(dir!, name)) : known.includes(name)) return;
        const guess = suggest(name, known);
        ctx.report({
          code: ProblemCode.unknownReference,
          at: ['profiles', i],
          message: `unknown profile "${name}" (looked in ${dir})${guess ? `; did you mean "${guess}"?` : ''}`,
          hint: `profiles there: ${known.join(', ') || '(none)'}`,
        });
      });
    }
    if (source.disk !== undefined && parseSize(source.disk) === undefined) {
      ctx.report({ code: ProblemCode.sizeMalformed, at: ['disk'], message: `expected a disk size such as "8GiB", got "${source.disk}"` });
    } else if (source.disk !== undefined && parseSize(source.disk)! < 2 ** 30) {
      ctx.report({
        code: ProblemCode.sizeMalformed,
        at: ['disk'],
        message: `disk ${JSON.stringify(source.disk)} is under 1GiB: too small for a bootable image`,
        hint: 'give the size of the whole disk, e.g. "8GiB"',
      });
    }
    if (source.memory !== undefined && !/^\d+(\.\d+)?\s*[KMGT]?i?B?$/i.test(source.memory))
      ctx.report({ code: ProblemCode.sizeMalformed, at: ['memory'], message: `expected memory such as "2G", got "${source.memory}"` });
    for (const key of Object.keys(source.set ?? {})) {
      if ((IDENTITY_KEYS as readonly string[]).includes(key) || ['ssh_key', 'user', 'groups'].includes(key)) {
        ctx.report({
          code: ProblemCode.schema,
          at: ['set', key],
          message: `"${key}" is identity: a baked image carries none`,
          hint: `pass it when launching: ingot launch --image … --set ${key}=…`,
        });
      } else if (!(BAKE_SET_KEYS as readonly string[]).includes(key)) {
        const guess = suggest(key, BAKE_SET_KEYS);
        ctx.report({
          code: ProblemCode.unknownField,
          at: ['set', key],
          message: `unknown build-time parameter "${key}"${guess ? `; did you mean "${guess}"?` : ''}`,
          hint: `known: ${BAKE_SET_KEYS.join(', ')}`,
        });
      }
    }
    if (source.verifyBoot === false && source.verify?.length)
      ctx.report({ code: ProblemCode.schema, severity: 'warning', at: ['verify'], message: 'verify commands never run with verifyBoot: false' });
  },

  describe(source) {
    return {
      type: 'bake',
      base: source.base,
      profiles: source.profiles,
      format: source.format ?? 'qcow2',
      ...(source.scan ? { scanProfile: source.scan.profile ?? 'standard' } : {}),
    };
  },

  async fingerprint(source, ctx): Promise<SourceFingerprint> {
    const fp = await computeFingerprint(source, ctx);
    return { value: fp.value, facts: { recipe: BAKE_RECIPE_VERSION, baseDigest: fp.inputs.base } };
  },

  async open(source, ctx) {
    const flags = runOptions.get(ctx.signal) ?? {};
    const fp = await computeFingerprint(source, ctx);
    const inputs = await fs.mkdtemp(path.join(tmpdir(), 'ingot-bake-inputs-'));
    try {
      const base = await fetchVerified(imageNamed(source.base, ctx, 'base'), ctx, inputs, 'base.qcow2', 'base');
      const kernel = source.kernel ? await fetchVerified(imageNamed(source.kernel, ctx, 'kernel'), ctx, inputs, 'vmlinuz', 'kernel') : undefined;
      const initrd = source.initrd ? await fetchVerified(imageNamed(source.initrd, ctx, 'initrd'), ctx, inputs, 'initrd.img', 'initrd') : undefined;
      // The builder (QEMU, launch, scan) loads only when an image is baked: validate and plans never need it.
      const { bake, qemuImgVersion } = await import('../bake/build.js');
      const result = await bake({
        name: ctx.image,
        base: base.file,
        ...(kernel ? { kernel: kernel.file } : {}),
        ...(initrd ? { initrd: initrd.file } : {}),
        ...(source.append ? { append: source.append } : {}),
        profile: fp.prepared.profile,
        renderBuild: fp.prepared.render,
        readonlyRoot: fp.prepared.readonlyRoot,
        verify: source.verify ?? [],
        verifyBoot: flags.verifyBoot ?? source.verifyBoot ?? true,
        ...(source.scan
          ? {
              scan: {
                profile: source.scan.profile ?? 'standard',
                ...(source.scan.required ? { required: source.scan.required } : {}),
                ...(source.scan.content ? { content: resolveInside(ctx.root, source.scan.content) } : {}),
              },
            }
          : {}),
        format: source.format ?? 'qcow2',
        ...(source.disk !== undefined ? { disk: String(parseSize(source.disk)) } : {}),
        cpus: source.cpus ?? 2,
        memory: source.memory ?? '2G',
        timeoutSeconds: source.timeout ?? 3600,
        accel: flags.accel ?? 'auto',
        keepOnFailure: flags.keepOnFailure ?? false,
        log: ctx.log,
        signal: ctx.signal,
      });
      await fs.rm(inputs, { recursive: true, force: true });
      const handle = await fs.open(result.file, 'r');
      const { size } = await handle.stat();
      const scan = result.scan;
      return {
        stream: handle.createReadStream({ highWaterMark: 1 << 20 }),
        size,
        facts: {
          ...this.describe(source),
          fingerprint: fp.value,
          recipe: BAKE_RECIPE_VERSION,
          baseDigest: base.digest,
          ...(source.kernel ? { kernel: source.kernel, initrd: source.initrd } : {}),
          ...(source.append ? { append: source.append } : {}),
          readonlyRoot: fp.prepared.readonlyRoot,
          pins: fp.prepared.pins,
          accelerator: result.accelerator,
          qemuImg: qemuImgVersion(),
          durationMs: result.durationMs,
          steps: result.steps,
          buildLog: { lines: result.buildLogLines, tail: result.buildLogTail },
          verified: result.verified,
          ...(scan
            ? {
                scan: {
                  profile: scan.profile,
                  content: scan.content,
                  ...(scan.adaptedFrom ? { adaptedFrom: scan.adaptedFrom } : {}),
                  counts: scan.counts,
                  failed: scan.failed,
                  required: source.scan?.required ?? [],
                  durationMs: scan.durationMs,
                },
              }
            : {}),
        },
        ...(scan
          ? {
              attachments: [
                { suffix: '.scan-arf.xml', file: scan.arf },
                { suffix: '.scan-report.html', file: scan.report },
              ],
            }
          : {}),
        cleanup: () => fs.rm(result.workDir, { recursive: true, force: true }),
      };
    } catch (error) {
      await fs.rm(inputs, { recursive: true, force: true });
      throw error;
    }
  },
};

function listProfiles(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => n.endsWith('.yaml') && n !== 'versions.yaml')
      .map((n) => n.replace(/\.yaml$/, ''));
  } catch {
    return [];
  }
}
