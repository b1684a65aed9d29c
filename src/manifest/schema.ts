/**
 * The manifest's schema: structure, types, descriptions and defaults. It is
 * exported as JSON Schema (`ingot schema`, schema/images.schema.json) for
 * editors. Cross-field checks live in rules.ts, not here.
 */
import { z } from 'zod';
import { sourceDrivers } from '../acquire/registry.js';
import { ALGORITHMS } from '../digest/digest.js';
import type { BaseSource } from '../acquire/source.js';
import { API_VERSION, API_VERSIONS, LABCTL_API_VERSION } from './root.js';

export { API_VERSION, LABCTL_API_VERSION };
export const SCHEMA_ID = 'https://ingot.dev/schema/images.schema.json';

const algorithm = z.enum(Object.keys(ALGORITHMS) as [keyof typeof ALGORITHMS]).describe('Digest algorithm: sha256 or sha512.');
const size = z.union([z.number().int().positive(), z.string()]);

const sourceSchema = z.discriminatedUnion('type', sourceDrivers.map((d) => d.schema) as unknown as [z.ZodObject, ...z.ZodObject[]]) as unknown as z.ZodType<
  BaseSource & Record<string, unknown>
>;

export const imageSchema = z
  .strictObject({
    name: z.string().min(1).describe('Unique name of the image, e.g. "talos-1.9.1".'),
    family: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'expected letters, digits, ".", "_" or "-" (max 64): it names files and links')
      .optional()
      .describe('Image family, for channels and host-side "current" links (e.g. "talos").'),
    version: z.string().min(1).optional().describe('Version within the family (e.g. "1.9.1").'),
    source: sourceSchema.describe('Where the bytes come from.'),
    destination: z
      .strictObject({
        path: z.string().describe('Path inside the store, relative and normalised, e.g. "talos/talos-1.9.1-amd64.raw".'),
      })
      .describe('Where the image is published.'),
    validation: z
      .strictObject({
        algorithm: algorithm.optional(),
        expected: z
          .string()
          .optional()
          .describe('Digest of the stored (decompressed) bytes. Required with source.decompress; defaults to source.checksum otherwise.'),
      })
      .optional()
      .describe('How the published bytes are verified.'),
    compatibility: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('Compatibility facts carried in metadata and enforced by hosts (e.g. guestInitProtocol, minAgentVersion).'),
  })
  .describe('One image.');

export const bootSetSchema = z
  .strictObject({
    name: z.string().min(1).describe('Unique name of the boot set; the boot manifest is published as boot/<name>.json.'),
    kernel: z
      .strictObject({
        image: z.string().min(1).describe('Name of the kernel image in spec.images.'),
        version: z.string().min(1).describe('Kernel release, e.g. "6.1.0-28-amd64".'),
        buildId: z.string().min(1).describe('Build id of the kernel.'),
        configSha256: z.string().describe('sha256 of the kernel .config, "sha256:<hex>".'),
      })
      .describe('The kernel.'),
    initramfs: z
      .strictObject({
        image: z.string().min(1).describe('Name of the initramfs image in spec.images.'),
        guestInitProtocol: z.number().int().positive().describe('Guest-init protocol version the initramfs speaks.'),
        guestInitVersion: z.string().min(1).optional().describe('Guest-init version (default: the initramfs source version).'),
        buildId: z.string().min(1).optional().describe('Build id (default: the initramfs source buildId).'),
      })
      .describe('The initramfs.'),
    compatibility: z
      .strictObject({
        minAgentVersion: z.string().min(1),
        maxAgentVersion: z.string().min(1).optional(),
        supportedProtocols: z.array(z.number().int().positive()).min(1),
      })
      .describe('What the pair is compatible with; hosts enforce it.'),
  })
  .describe('A kernel paired with an initramfs, published as a boot manifest.');

const specSchema = z.strictObject({
  root: z
    .string()
    .optional()
    .describe(
      `Directory that relative source paths (packer path, file sources, initramfs inputs) resolve against and may not leave; relative to the manifest: the manifest's directory, a parent ("..") or a directory inside it. Default: the manifest's directory; with apiVersion ${LABCTL_API_VERSION}, the enclosing Git repository's top level.`,
    ),
  store: z
    .strictObject({
      url: z.string().describe('Store URL: a directory, file:///abs/path, or s3://bucket[/prefix]?endpoint=…&region=…. --store wins.'),
    })
    .optional()
    .describe(
      'Where images are published. Precedence: --store, then this, then a bucket (and endpoint) in the S3 credentials, then .ingot/store beside the manifest.',
    ),
  defaults: z
    .strictObject({
      destinationPrefix: z.string().default('images/').describe('Store prefix for image bytes. Default "images/".'),
      validation: z.strictObject({ algorithm: algorithm.default('sha256') }).optional(),
      maxDecompressedSize: size.optional().describe('Cap on any decompressed image (bytes or "64GiB"). Default 64GiB.'),
    })
    .optional()
    .describe('Defaults for every image.'),
  signing: z
    .strictObject({
      key: z
        .string()
        .optional()
        .describe('minisign secret key file, relative to the manifest (--signing-key and INGOT_SIGNING_KEY win). Never commit an unencrypted key.'),
      expires: z.string().optional().describe('Validity of the signed index.json, e.g. "7d" (default) or "12h".'),
    })
    .optional()
    .describe('Sign the catalogue (index.json) after every sync.'),
  images: z.array(imageSchema).describe('The images.'),
  bootSets: z.array(bootSetSchema).optional().describe('Kernel + initramfs pairs, published as boot manifests after the images.'),
});

const envelopeShape = {
  apiVersion: z
    .enum(API_VERSIONS)
    .describe(`"${API_VERSION}", or "${LABCTL_API_VERSION}" for the labctl-compatible form (source paths relative to the Git repository's top level).`),
  kind: z.literal('ImageManifest'),
  metadata: z
    .strictObject({
      name: z.string().min(1).describe('Name of this manifest.'),
      labels: z.record(z.string(), z.string()).optional(),
    })
    .describe('About this manifest.'),
};

export const manifestSchema = z.strictObject({ ...envelopeShape, spec: specSchema }).describe('An ingot image manifest.');

/** The manifest with images left unchecked, so each image is checked (and reported) on its own. */
export const envelopeSchema = z.strictObject({ ...envelopeShape, spec: specSchema.extend({ images: z.array(z.unknown()) }) });

export type RawManifest = z.infer<typeof manifestSchema>;
export type RawImage = z.infer<typeof imageSchema>;
export type RawBootSet = z.infer<typeof bootSetSchema>;

/** The manifest's JSON Schema, for editors (yaml-language-server) and `ingot schema`. */
export function manifestJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(manifestSchema, { target: 'draft-2020-12', io: 'input' }) as Record<string, unknown>;
  return { $id: SCHEMA_ID, title: 'ingot ImageManifest', ...schema };
}

/** Known keys of the object schema at `path` in `data`, for "did you mean". */
export function knownKeysAt(path: readonly (string | number)[], data: unknown): string[] {
  let schema: z.ZodType = manifestSchema;
  let value: unknown = data;
  for (const segment of path) {
    schema = unwrap(schema, value);
    const def = (schema as { def: { type: string } }).def;
    if (def.type === 'object') schema = (schema as z.ZodObject).shape[segment as string] as z.ZodType;
    else if (def.type === 'array') schema = (schema as z.ZodArray<z.ZodType>).element;
    else if (def.type === 'record') schema = (schema as unknown as { def: { valueType: z.ZodType } }).def.valueType;
    else return [];
    if (!schema) return [];
    value = (value as Record<string | number, unknown> | undefined)?.[segment];
  }
  schema = unwrap(schema, value);
  return (schema as { def: { type: string } }).def.type === 'object' ? Object.keys((schema as z.ZodObject).shape) : [];
}

function unwrap(schema: z.ZodType, value: unknown): z.ZodType {
  for (;;) {
    const def = (schema as unknown as { def: { type: string; innerType?: z.ZodType; options?: z.ZodType[]; discriminator?: string } }).def;
    if ((def.type === 'optional' || def.type === 'default' || def.type === 'nullable') && def.innerType) {
      schema = def.innerType;
    } else if (def.type === 'union' && def.options) {
      const type = (value as { type?: unknown } | undefined)?.type;
      const match = def.options.find((o) => {
        const t = (o as z.ZodObject).shape?.type as unknown as { def: { values?: unknown[]; type: string }; options?: unknown[] } | undefined;
        const values = (t as { options?: unknown[] } | undefined)?.options ?? (t?.def as { values?: unknown[] } | undefined)?.values;
        return values?.includes(type);
      });
      if (!match) return schema;
      schema = match;
    } else {
      return schema;
    }
  }
}
