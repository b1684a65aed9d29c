/**
 * What differs per cloud: the builder, its source block and the variables it
 * needs. Everything is data for the HCL writer. Credentials are never written
 * into a template: each builder reads its cloud's usual environment or config
 * file (AWS_*, ARM_* via env(), GOOGLE_APPLICATION_CREDENTIALS, ~/.oci/config,
 * ALICLOUD_*). Account-specific ids missing from the config become variables
 * without a default, so `packer build` asks for them instead of guessing.
 */
import type { Cloud, CloudConfig, PackerConfig } from './config.js';
import { call, interp, ref, type HclItem, type HclValue } from './hcl.js';

/** A template variable: a default from the config, or none (the user must set it). */
export interface TemplateVariable {
  readonly name: string;
  readonly type: 'string' | 'number' | 'map(string)';
  readonly description: string;
  readonly default?: HclValue;
  readonly sensitive?: boolean;
}

/** The plugin each builder lives in since packer 1.7 (for `required_plugins`, with `--plugins`). */
export const CLOUD_PLUGINS: Record<Cloud, { name: string; source: string; version: string }> = {
  aws: { name: 'amazon', source: 'github.com/hashicorp/amazon', version: '>= 1.2.0' },
  azure: { name: 'azure', source: 'github.com/hashicorp/azure', version: '>= 2.0.0' },
  gcp: { name: 'googlecompute', source: 'github.com/hashicorp/googlecompute', version: '>= 1.1.0' },
  oci: { name: 'oracle', source: 'github.com/hashicorp/oracle', version: '>= 1.0.0' },
  alibaba: { name: 'alicloud', source: 'github.com/hashicorp/alicloud', version: '>= 1.0.0' },
};

/** The cloud-specific part of a template. */
export interface CloudTemplate {
  readonly builder: string;
  readonly variables: readonly TemplateVariable[];
  readonly source: readonly HclItem[];
  /** Provisioners that must run after cleanup (Azure's deprovision). */
  readonly finalProvisioners: readonly HclItem[];
}

const imageName = () => interp(ref('var.image_name'), '-', ref('local.build_time'));
const attr = (name: string, value: HclValue): HclItem => ({ attr: name, value });
const v = (name: string) => ref(`var.${name}`);

/** A variable that takes its default from an optional config value. */
function idVariable(name: string, description: string, value: string | undefined): TemplateVariable {
  return value === undefined ? { name, type: 'string', description } : { name, type: 'string', description, default: value };
}

/** GCP labels allow lowercase letters, digits, "_" and "-" only (keys and values, ≤63 chars). */
export function gcpLabels(tags: Record<string, string>): Record<string, string> {
  const clean = (s: string) =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9_-]/g, '_')
      .slice(0, 63);
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(tags)) out[clean(key)] = clean(value);
  return out;
}

function aws(c: CloudConfig<'aws'>): CloudTemplate {
  return {
    builder: 'amazon-ebs',
    variables: [],
    source: [
      attr('region', v('region')),
      attr('instance_type', v('instance_type')),
      attr('ami_name', imageName()),
      attr('ami_description', v('image_description')),
      attr('ssh_username', v('ssh_username')),
      attr('tags', v('tags')),
      attr('run_tags', v('tags')),
      {
        block: 'source_ami_filter',
        body: [
          attr('filters', { name: c.baseImage.nameFilter, 'root-device-type': 'ebs', 'virtualization-type': 'hvm' }),
          attr('owners', c.baseImage.owners),
          attr('most_recent', true),
        ],
      },
      {
        block: 'launch_block_device_mappings',
        body: [
          attr('device_name', '/dev/sda1'),
          attr('volume_size', v('disk_size_gb')),
          attr('volume_type', 'gp3'),
          { comment: 'packer 1.6.6 requires explicit gp3 throughput and iops (these are the gp3 baseline).' },
          attr('throughput', 125),
          attr('iops', 3000),
          attr('delete_on_termination', true),
        ],
      },
    ],
    finalProvisioners: [],
  };
}

function azure(c: CloudConfig<'azure'>): CloudTemplate {
  const envVar = (name: string, env: string, description: string, sensitive = false): TemplateVariable => ({
    name,
    type: 'string',
    description,
    default: call('env', env),
    ...(sensitive ? { sensitive } : {}),
  });
  return {
    builder: 'azure-arm',
    variables: [
      envVar('client_id', 'ARM_CLIENT_ID', 'Service principal id; empty means Azure CLI login (az login).'),
      envVar('client_secret', 'ARM_CLIENT_SECRET', 'Service principal secret.', true),
      envVar('subscription_id', 'ARM_SUBSCRIPTION_ID', 'Subscription the image is built in.'),
      envVar('tenant_id', 'ARM_TENANT_ID', 'Azure AD tenant.'),
      idVariable('resource_group', 'Resource group the managed image is written to.', c.resourceGroup),
    ],
    source: [
      attr('client_id', v('client_id')),
      attr('client_secret', v('client_secret')),
      attr('subscription_id', v('subscription_id')),
      attr('tenant_id', v('tenant_id')),
      { comment: 'Without a service principal, use the Azure CLI login.' },
      attr('use_azure_cli_auth', { kind: 'expr', text: 'var.client_id == ""' }),
      attr('location', v('region')),
      attr('vm_size', v('instance_type')),
      attr('os_type', 'Linux'),
      attr('image_publisher', c.baseImage.publisher),
      attr('image_offer', c.baseImage.offer),
      attr('image_sku', c.baseImage.sku),
      attr('image_version', c.baseImage.version),
      attr('os_disk_size_gb', v('disk_size_gb')),
      attr('managed_image_name', imageName()),
      attr('managed_image_resource_group_name', v('resource_group')),
      attr('ssh_username', v('ssh_username')),
      attr('azure_tags', v('tags')),
    ],
    finalProvisioners: [
      { comment: "Azure's documented last step: deprovision the agent and the build user." },
      {
        block: 'provisioner',
        labels: ['shell'],
        body: [
          attr('execute_command', "chmod +x {{ .Path }}; {{ .Vars }} sudo -E sh '{{ .Path }}'"),
          attr('inline', ['/usr/sbin/waagent -force -deprovision+user && export HISTSIZE=0 && sync']),
          attr('inline_shebang', '/bin/sh -x'),
        ],
      },
    ],
  };
}

function gcp(c: CloudConfig<'gcp'>): CloudTemplate {
  return {
    builder: 'googlecompute',
    variables: [idVariable('project_id', 'GCP project the image is built in.', c.projectId)],
    source: [
      attr('project_id', v('project_id')),
      attr('zone', v('region')),
      attr('machine_type', v('instance_type')),
      attr('source_image_family', c.baseImage.family),
      attr('source_image_project_id', [c.baseImage.project]),
      attr('image_name', imageName()),
      attr('image_family', v('image_name')),
      attr('image_description', v('image_description')),
      attr('disk_size', v('disk_size_gb')),
      attr('ssh_username', v('ssh_username')),
      attr('image_labels', v('tags')),
    ],
    finalProvisioners: [],
  };
}

function oci(c: CloudConfig<'oci'>): CloudTemplate {
  return {
    builder: 'oracle-oci',
    variables: [
      {
        name: 'oci_config_file',
        type: 'string',
        description: 'OCI CLI config file with the API key (user, tenancy, fingerprint, key_file).',
        default: '~/.oci/config',
      },
      idVariable('compartment_ocid', 'Compartment the build instance and image live in.', c.compartmentOcid),
      idVariable('subnet_ocid', 'Subnet of the build instance (needs SSH from here).', c.subnetOcid),
      idVariable('availability_domain', 'Availability domain, e.g. "Uocm:US-ASHBURN-AD-1".', c.availabilityDomain),
      idVariable('base_image_ocid', 'OCID of the base image in this region.', c.baseImageOcid),
    ],
    source: [
      attr('access_cfg_file', v('oci_config_file')),
      attr('region', v('region')),
      attr('availability_domain', v('availability_domain')),
      attr('compartment_ocid', v('compartment_ocid')),
      attr('subnet_ocid', v('subnet_ocid')),
      attr('base_image_ocid', v('base_image_ocid')),
      attr('shape', v('instance_type')),
      { comment: 'OCI boot volumes are at least 50 GB.' },
      attr('disk_size', call('max', v('disk_size_gb'), 50)),
      attr('image_name', imageName()),
      attr('ssh_username', v('ssh_username')),
      attr('tags', v('tags')),
    ],
    finalProvisioners: [],
  };
}

function alibaba(c: CloudConfig<'alibaba'>): CloudTemplate {
  return {
    builder: 'alicloud-ecs',
    variables: [],
    source: [
      attr('region', v('region')),
      attr('instance_type', v('instance_type')),
      attr('source_image', c.baseImage),
      attr('image_name', imageName()),
      attr('image_description', v('image_description')),
      attr('ssh_username', v('ssh_username')),
      attr('internet_charge_type', 'PayByTraffic'),
      attr('io_optimized', true),
      attr('tags', v('tags')),
      { block: 'system_disk_mapping', body: [attr('disk_size', v('disk_size_gb')), attr('disk_category', 'cloud_essd')] },
    ],
    finalProvisioners: [],
  };
}

/** The cloud-specific template parts for `cloud`. */
export function cloudTemplate(cloud: Cloud, config: PackerConfig): CloudTemplate {
  const c = config.clouds;
  switch (cloud) {
    case 'aws':
      return aws(c.aws!);
    case 'azure':
      return azure(c.azure!);
    case 'gcp':
      return gcp(c.gcp!);
    case 'oci':
      return oci(c.oci!);
    case 'alibaba':
      return alibaba(c.alibaba!);
  }
}
