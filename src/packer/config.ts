/**
 * The provider-neutral image config behind `ingot packer init`: one YAML file
 * describes the image once (name, disk, SSH user, packages, scripts, tags) and
 * per cloud only what differs (region, instance type, base image, account
 * ids). Each cloud's template is generated from it.
 */
import * as fs from 'node:fs/promises';
import { z } from 'zod';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { parseYaml, positionOf } from '../manifest/yaml.js';

/** The clouds `ingot packer init --cloud` knows. */
export const CLOUDS = ['aws', 'azure', 'gcp', 'oci', 'alibaba'] as const;
export type Cloud = (typeof CLOUDS)[number];

const str = z.string().min(1);
/** Optional account-specific ids: absent → a required template variable without a default. */
const optionalId = str.optional();

const common = {
  region: str.describe('aws/oci/alibaba: region; azure: location; gcp: zone (e.g. us-central1-a).'),
  instanceType: str.describe('aws/alibaba: instance type; azure: VM size; gcp: machine type; oci: shape.'),
  sshUser: str.optional().describe('Overrides build.sshUser for this cloud.'),
};

const awsSchema = z.strictObject({
  ...common,
  baseImage: z.strictObject({
    nameFilter: str.describe('AMI name filter, e.g. "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*".'),
    owners: z.array(str).min(1).describe('AMI owner account ids (099720109477 is Canonical).'),
  }),
});
const azureSchema = z.strictObject({
  ...common,
  baseImage: z.strictObject({ publisher: str, offer: str, sku: str, version: str.default('latest') }),
  resourceGroup: optionalId.describe('Resource group the managed image is written to.'),
});
const gcpSchema = z.strictObject({
  ...common,
  baseImage: z.strictObject({ family: str, project: str }),
  projectId: optionalId.describe('GCP project the image is built in.'),
});
const ociSchema = z.strictObject({
  ...common,
  baseImageOcid: optionalId,
  compartmentOcid: optionalId,
  subnetOcid: optionalId,
  availabilityDomain: optionalId,
});
const alibabaSchema = z.strictObject({
  ...common,
  baseImage: str.describe('Source image id, e.g. "ubuntu_22_04_x64_20G_alibase_20240130.vhd".'),
});

const NAME = /^[a-z][a-z0-9-]{0,40}[a-z0-9]$/;

/** The schema of the config file (`--config FILE`). */
export const packerConfigSchema = z.strictObject({
  image: z.strictObject({
    name: z
      .string()
      .regex(NAME, 'lowercase letters, digits and "-", 2–42 characters, starting with a letter')
      .describe('Image name prefix; a build timestamp is appended.'),
    description: z.string().default(''),
  }),
  build: z
    .strictObject({
      diskSizeGb: z.number().int().min(8).max(2048).default(30),
      sshUser: str.default('ubuntu'),
      packages: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]*$/, 'a Debian package name')).default([]),
      scripts: z.array(str).default([]).describe('Extra provisioning scripts (paths relative to the config file), run after install.'),
      hardening: z.boolean().default(true).describe('Apply the CIS Level 1 subset (see docs/packer.md).'),
    })
    .prefault({}),
  tags: z.record(z.string().regex(/^[A-Za-z0-9_.:/=+@-]{1,63}$/, 'a tag key'), z.string()).default({}),
  clouds: z
    .strictObject({
      aws: awsSchema.optional(),
      azure: azureSchema.optional(),
      gcp: gcpSchema.optional(),
      oci: ociSchema.optional(),
      alibaba: alibabaSchema.optional(),
    })
    .prefault({}),
});

export type PackerConfig = z.infer<typeof packerConfigSchema>;
export type CloudConfig<C extends Cloud> = NonNullable<PackerConfig['clouds'][C]>;

/** The documented example config, used when `--config` is not given. */
export const EXAMPLE_CONFIG_YAML = `# ingot packer config: one image, described once, built on any of five clouds.
image:
  name: ingot-base
  description: Ubuntu 22.04 base image, CIS Level 1 subset, built by ingot
build:
  diskSizeGb: 30
  sshUser: ubuntu
  packages: [ca-certificates, curl, jq]
  scripts: []
  hardening: true
tags:
  managed-by: ingot
  role: base
clouds:
  aws:
    region: us-east-1
    instanceType: t3.medium
    baseImage:
      nameFilter: ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*
      owners: ["099720109477"]
  azure:
    region: eastus
    instanceType: Standard_D2s_v3
    resourceGroup: ingot-images
    baseImage: { publisher: Canonical, offer: 0001-com-ubuntu-server-jammy, sku: 22_04-lts-gen2 }
  gcp:
    region: us-central1-a
    instanceType: e2-medium
    baseImage: { family: ubuntu-2204-lts, project: ubuntu-os-cloud }
  oci:
    region: us-ashburn-1
    instanceType: VM.Standard2.1
  alibaba:
    region: cn-hangzhou
    instanceType: ecs.g6.large
    sshUser: root
    baseImage: ubuntu_22_04_x64_20G_alibase_20240130.vhd
`;

/** Parses config text; every problem is reported at once with file:line:col. */
export function parsePackerConfig(text: string, file: string): PackerConfig {
  const parsed = parseYaml(text, file);
  if (parsed.problems.length > 0) {
    const lines = parsed.problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`);
    throw configError(file, lines);
  }
  const result = packerConfigSchema.safeParse(parsed.data ?? {});
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const at = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    const pos = positionOf(parsed, at);
    return `${file}:${pos.line}:${pos.column}: ${at.join('.') || '(top)'}: ${issue.message}`;
  });
  throw configError(file, lines);
}

/** Reads and parses a config file. */
export async function loadPackerConfig(file: string): Promise<PackerConfig> {
  const text = await fs.readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new IngotError(ErrorCode.packerConfigInvalid, `cannot read packer config ${file}: ${error.code ?? error.message}`, {
      path: file,
      exitCode: ExitCode.usage,
      hint: 'pass an existing YAML file with --config, or leave it out to use the example config',
    });
  });
  return parsePackerConfig(text, file);
}

/** The settings for one cloud, or a usage error naming the missing section. */
export function cloudSection<C extends Cloud>(config: PackerConfig, cloud: C, file: string): CloudConfig<C> {
  const section = config.clouds[cloud] as CloudConfig<C> | undefined;
  if (!section) {
    throw new IngotError(ErrorCode.packerConfigInvalid, `packer config has no clouds.${cloud} section`, {
      path: file,
      exitCode: ExitCode.usage,
      hint: `add clouds.${cloud} with region, instanceType and baseImage (see docs/packer.md)`,
    });
  }
  return section;
}

function configError(file: string, lines: string[]): IngotError {
  return new IngotError(ErrorCode.packerConfigInvalid, `invalid packer config ${file}:\n${lines.join('\n')}`, {
    path: file,
    exitCode: ExitCode.usage,
    hint: 'fix the listed fields; docs/packer.md describes every one',
  });
}
