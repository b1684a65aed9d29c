/**
 * `ingot packer doctor`: is packer installed (and how new), and for each
 * cloud, is its CLI installed and are credentials configured? Only names of
 * environment variables and files are reported, never their values.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { which } from '../exec/which.js';
import type { Cloud } from './config.js';
import { packerVersion } from './runner.js';
import { MIN_PACKER_VERSION } from './template.js';

/** One check's outcome. */
export interface DoctorCheck {
  name: string;
  ok: boolean;
  /** What was found (a version, which credential source). */
  found?: string;
  /** How to fix it, when not ok. */
  fix?: string;
}

/** The whole report; `packer.ok` false means nothing can build. */
export interface DoctorReport {
  packer: DoctorCheck & { version?: string; notes: string[] };
  clouds: { cloud: Cloud; cli: DoctorCheck; credentials: DoctorCheck }[];
}

interface CloudRequirements {
  cli: string;
  install: string;
  /** Alternative credential sources: all env names in a set, or a file under $HOME. */
  credentials: { env?: readonly string[]; file?: string; label: string }[];
  credentialsFix: string;
}

/** What each cloud needs; credential sources are the ones its packer builder reads. */
export const CLOUD_REQUIREMENTS: Record<Cloud, CloudRequirements> = {
  aws: {
    cli: 'aws',
    install: 'apt-get install awscli (or AWS CLI v2 from https://aws.amazon.com/cli/)',
    credentials: [
      { env: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'], label: 'AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY' },
      { env: ['AWS_PROFILE'], label: 'AWS_PROFILE' },
      { file: '.aws/credentials', label: '~/.aws/credentials' },
    ],
    credentialsFix: 'export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws configure`',
  },
  azure: {
    cli: 'az',
    install: 'see https://learn.microsoft.com/cli/azure/install-azure-cli-linux (Microsoft apt repository)',
    credentials: [
      {
        env: ['ARM_CLIENT_ID', 'ARM_CLIENT_SECRET', 'ARM_SUBSCRIPTION_ID', 'ARM_TENANT_ID'],
        label: 'ARM_CLIENT_ID + ARM_CLIENT_SECRET + ARM_SUBSCRIPTION_ID + ARM_TENANT_ID',
      },
      { file: '.azure/azureProfile.json', label: 'Azure CLI login (~/.azure)' },
    ],
    credentialsFix: 'export the ARM_* service principal variables, or run `az login`',
  },
  gcp: {
    cli: 'gcloud',
    install: "apt-get install google-cloud-cli (from Google Cloud's apt repository)",
    credentials: [
      { env: ['GOOGLE_APPLICATION_CREDENTIALS'], label: 'GOOGLE_APPLICATION_CREDENTIALS' },
      { file: '.config/gcloud/application_default_credentials.json', label: 'gcloud application-default login' },
    ],
    credentialsFix: 'export GOOGLE_APPLICATION_CREDENTIALS=<service account key>, or run `gcloud auth application-default login`',
  },
  oci: {
    cli: 'oci',
    install: 'pip install oci-cli (see https://docs.oracle.com/iaas/Content/API/SDKDocs/cliinstall.htm)',
    credentials: [
      { env: ['OCI_CLI_CONFIG_FILE'], label: 'OCI_CLI_CONFIG_FILE (pass it as -var oci_config_file=…)' },
      { file: '.oci/config', label: '~/.oci/config' },
    ],
    credentialsFix: 'run `oci setup config` to write ~/.oci/config with an API key',
  },
  alibaba: {
    cli: 'aliyun',
    install: 'download aliyun-cli from https://github.com/aliyun/aliyun-cli/releases',
    credentials: [{ env: ['ALICLOUD_ACCESS_KEY', 'ALICLOUD_SECRET_KEY'], label: 'ALICLOUD_ACCESS_KEY + ALICLOUD_SECRET_KEY' }],
    credentialsFix: 'export ALICLOUD_ACCESS_KEY and ALICLOUD_SECRET_KEY (the alicloud builder reads only these)',
  },
};

/** Compares dotted versions numerically ("1.10.0" > "1.9.9"). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/).map((p) => Number.parseInt(p, 10) || 0);
  const pb = b.split(/[.+-]/).map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Notes about what a packer version changes for ingot's templates. */
export function versionNotes(version: string): string[] {
  const notes: string[] = [];
  if (compareVersions(version, MIN_PACKER_VERSION) < 0)
    notes.push(`packer ${version} is older than ${MIN_PACKER_VERSION}; generated HCL2 templates need ${MIN_PACKER_VERSION} or newer`);
  if (compareVersions(version, '1.7.0') >= 0) {
    notes.push('packer ≥ 1.7 installs builders as plugins: add a required_plugins block and run `packer init DIR` once before building');
  }
  if (compareVersions(version, '1.10.0') >= 0)
    notes.push('packer ≥ 1.10 no longer bundles the cloud plugins; `packer init` (or `packer plugins install`) is required');
  return notes;
}

/** Runs every check. Never throws for a missing tool; that is a finding. */
export async function packerDoctor(env: NodeJS.ProcessEnv): Promise<DoctorReport> {
  const home = env.HOME ?? '';
  let version: string | undefined;
  let versionProblem: string | undefined;
  const packerPath = which('packer', env);
  if (packerPath) {
    try {
      version = await packerVersion(env);
    } catch (error) {
      versionProblem = (error as Error).message;
    }
  }
  const packer: DoctorReport['packer'] = {
    name: 'packer',
    ok: Boolean(packerPath && version),
    ...(version ? { version, found: `${version} (${packerPath})` } : {}),
    ...(!packerPath
      ? { fix: "apt-get install packer (Debian bookworm ships 1.6.6), or HashiCorp's apt repository for current releases" }
      : versionProblem
        ? { fix: `packer is on PATH but \`packer version\` failed: ${versionProblem}` }
        : {}),
    notes: version ? versionNotes(version) : [],
  };
  const clouds = (Object.keys(CLOUD_REQUIREMENTS) as Cloud[]).map((cloud) => {
    const req = CLOUD_REQUIREMENTS[cloud];
    const cliPath = which(req.cli, env);
    const source = req.credentials.find((c) =>
      c.env ? c.env.every((name) => Boolean(env[name])) : c.file ? home !== '' && existsSync(path.join(home, c.file)) : false,
    );
    return {
      cloud,
      cli: { name: req.cli, ok: Boolean(cliPath), ...(cliPath ? { found: cliPath } : { fix: req.install }) },
      credentials: { name: `${cloud} credentials`, ok: Boolean(source), ...(source ? { found: source.label } : { fix: req.credentialsFix }) },
    };
  });
  return { packer, clouds };
}

/** Human-readable lines for the report. */
export function formatDoctor(report: DoctorReport): string[] {
  const mark = (ok: boolean) => (ok ? 'ok     ' : 'missing');
  const lines = [`${mark(report.packer.ok)} packer${report.packer.found ? ` ${report.packer.found}` : ''}`];
  if (report.packer.fix) lines.push(`        fix: ${report.packer.fix}`);
  for (const note of report.packer.notes) lines.push(`        note: ${note}`);
  for (const c of report.clouds) {
    lines.push(`${mark(c.cli.ok)} ${c.cloud}: ${c.cli.name} CLI${c.cli.found ? ` (${c.cli.found})` : ''}`);
    if (c.cli.fix) lines.push(`        install: ${c.cli.fix}`);
    lines.push(`${mark(c.credentials.ok)} ${c.cloud}: credentials${c.credentials.found ? ` from ${c.credentials.found}` : ''}`);
    if (c.credentials.fix) lines.push(`        fix: ${c.credentials.fix}`);
  }
  return lines;
}
