/** `ingot launch`: render a profile, start a VM (qemu or multipass), report ready only when cloud-init and every post-launch step succeeded. */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { parse } from 'yaml';
import { ErrorCode, ExitCode, IngotError, UsageError } from '../../errors.js';
import type { DataDisk, LaunchSpec } from '../../provision/launch/backend.js';
import { launch, resume, type LaunchResult } from '../../provision/launch/launch.js';
import { requireRecord, vmsDir as resolveVmsDir, writeRecord } from '../../provision/launch/vm-state.js';
import { isRecord } from '../../provision/profile.js';
import { parseParams } from '../../provision/params.js';
import { defaultProfilesDir } from '../../provision/paths.js';
import { renderProfile } from '../../provision/render-profile.js';
import { renderUserData } from '../../provision/render.js';
import { pull } from '../../cache/pull.js';
import { readPublicKey } from '../../trust/key-files.js';
import { resolveStore } from '../resolve.js';
import { shq } from '../../provision/shell.js';
import type { Step } from '../../provision/steps.js';
import { bool, list, str, type Command, type CommandContext, type ParsedArgs } from '../command.js';

export const command: Command = {
  name: 'launch',
  summary: 'Launch a VM with a profile; ready only when cloud-init and every post-launch step succeeded',
  usage: [
    'launch PROFILE --image IMAGE [--backend qemu|multipass] [--name N] [--set key=value…] [--env K=V…] [--disk NAME:SIZE…] [options]',
    '       launch [PROFILE] --user-data FILE --image IMAGE [options]',
    '       launch --resume NAME [PROFILE] [--env K=V…]',
  ].join('\n'),
  description: [
    'qemu: IMAGE is a qcow2 used as a read-only base (an overlay is created in VMS-DIR/NAME);',
    'multipass: IMAGE is an alias ("24.04") or a file:// URL (multipass ≥ 1.16).',
    'Readiness is `cloud-init status --wait --long` in the guest: 0 ready; 1 (error) and 2 (degraded) fail the launch.',
    "Then the profile's post-launch steps run in order (transfer, run, pull-images, verify-digests, verify-files, health, reboot),",
    'each with its timeout, retries and delay. --user-data FILE boots that user-data instead of the rendered profile, and',
    "still runs PROFILE's post-launch steps when a PROFILE is given.",
    'On failure the VM is kept for inspection (the error says how to look inside, resume and delete it) unless --rm-on-failure;',
    '`ingot launch --resume NAME` checks cloud-init again and re-runs the post-launch steps (re-read from the profile).',
    'Exit 0 when ready; 1 when the launch, cloud-init or a step failed or timed out; 2 on bad input.',
    'With --store URL --public-key FILE, IMAGE is the name of a (baked) image in that store: it is pulled and verified, and',
    'only deploy-time identity (--set) is applied; a PROFILE then gives its post-launch steps only (its cloud-config is baked in).',
    'Example: ingot launch docker --image base.qcow2 --set user=alice --set ssh_key="ssh-ed25519 AAAA…"',
  ].join('\n'),
  positionals: true,
  options: {
    image: { type: 'string', valueName: 'IMAGE', description: 'Base image (required, except with --resume)' },
    backend: { type: 'string', valueName: 'qemu|multipass', description: 'Launch backend (default: qemu)' },
    name: { type: 'string', valueName: 'NAME', description: 'VM name (default: PROFILE)' },
    'profiles-dir': { type: 'string', valueName: 'DIR', description: 'Directory of profiles' },
    versions: { type: 'string', valueName: 'FILE', description: 'versions.yaml with pins' },
    set: { type: 'string', multiple: true, valueName: 'KEY=VALUE', description: 'Deploy-time parameter (identity): hostname, fqdn, user, ssh_key, groups' },
    env: {
      type: 'string',
      multiple: true,
      valueName: 'KEY=VALUE',
      description: 'Variable exported into run, pull-images and health steps (not for secrets: it is kept in the VM record)',
    },
    'user-data': {
      type: 'string',
      valueName: 'FILE',
      description: 'Boot this user-data instead of the rendered PROFILE (PROFILE still gives the post-launch steps)',
    },
    'network-config': { type: 'string', valueName: 'FILE', description: 'qemu: NoCloud network-config (v1 or v2) put into the seed' },
    cpus: { type: 'string', valueName: 'N', description: 'vCPUs (default 2)' },
    memory: { type: 'string', valueName: 'SIZE', description: 'Memory (default 2G)' },
    disk: {
      type: 'string',
      multiple: true,
      valueName: 'SIZE|NAME:SIZE',
      description:
        'SIZE: the root disk (multipass default 10G; qemu: the base image size). NAME:SIZE (qemu): an extra disk, ext4, labelled NAME (e.g. state:4G for readonly-root)',
    },
    timeout: { type: 'string', valueName: 'SECONDS', description: 'Deadline incl. cloud-init and post-launch steps (default 900)' },
    accel: { type: 'string', valueName: 'auto|kvm|tcg', description: 'qemu accelerator (default auto: probe KVM, else tcg)' },
    kernel: { type: 'string', valueName: 'FILE', description: 'qemu: boot this kernel directly' },
    initrd: { type: 'string', valueName: 'FILE', description: 'qemu: initrd for --kernel' },
    append: { type: 'string', valueName: 'CMDLINE', description: 'qemu: kernel command line (default "root=/dev/vda rw console=ttyS0")' },
    'vms-dir': { type: 'string', valueName: 'DIR', description: 'Where VMs are kept, one directory each (default ./.ingot/vms)' },
    'ssh-port': { type: 'string', valueName: 'PORT', description: 'qemu: host port forwarded to guest port 22 (default: a free one)' },
    read: { type: 'string', multiple: true, valueName: 'PATH', description: 'Print this guest file once ready (repeatable)' },
    stop: { type: 'boolean', description: 'Stop the VM after it was verified (smoke tests)' },
    resume: { type: 'string', valueName: 'NAME', description: 'Re-run the post-launch steps on existing VM NAME (started first when stopped)' },
    'rm-on-failure': { type: 'boolean', description: 'Remove the VM when the launch fails (default: keep it for inspection)' },
    'dry-run': { type: 'boolean', description: 'Print every command instead of running it; nothing is created or run' },
    store: {
      type: 'string',
      valueName: 'URL',
      description: 'Launch --image NAME from this store: pulled (signed index, verified digest) into --cache, then only deploy-time identity is applied',
    },
    'public-key': { type: 'string', valueName: 'FILE', description: "With --store: the store's trusted minisign public key" },
    cache: { type: 'string', valueName: 'DIR', description: 'With --store: host cache the image is pulled into (default ./.ingot/images)' },
  },
  async run(args, ctx) {
    const vmsDir = resolveVmsDir(ctx.cwd, str(args, 'vms-dir'));
    const vmsFlag = str(args, 'vms-dir') ? ` --vms-dir ${shq(vmsDir)}` : '';
    const env = parseEnv(list(args, 'env'));
    const resumeName = str(args, 'resume');
    const result = resumeName ? await runResume(resumeName, args, ctx, { vmsDir, vmsFlag, env }) : await runLaunch(args, ctx, { vmsDir, vmsFlag, env });
    if (result.dryRun) return;
    const name = result.name;
    ctx.out.result(
      {
        name,
        backend: result.backend,
        ready: true,
        cloudInit: { exitCode: result.cloudInit.exitCode, status: result.cloudInit.status, detail: result.cloudInit.detail },
        steps: result.steps,
        info: result.info,
        files: result.files,
        stopped: result.stopped,
        durationMs: result.durationMs,
      },
      () => [
        `${name}: ready (cloud-init status: ${result.cloudInit.status ?? 'done'}${result.steps.length ? `; ${result.steps.length} post-launch step(s) ok` : ''}) after ${Math.round(result.durationMs / 1000)} s${result.info.accelerator ? ` [${String(result.info.accelerator)}]` : ''}`,
        ...(result.stopped
          ? ['  the VM was stopped (--stop)']
          : [`  enter it: ingot vm ssh ${name}${vmsFlag}   run: ingot vm exec ${name}${vmsFlag} -- CMD   stop: ingot vm stop ${name}${vmsFlag}`]),
        ...Object.entries(result.files).flatMap(([file, content]) => [`--- ${file}`, content.trimEnd()]),
      ],
    );
  },
};

interface Shared {
  vmsDir: string;
  vmsFlag: string;
  env: Record<string, string>;
}

async function runLaunch(args: ParsedArgs, ctx: CommandContext, shared: Shared): Promise<LaunchResult> {
  const [profileArg, ...extra] = args.positionals;
  const profileName = profileArg && profileRef(profileArg, ctx.cwd);
  const userDataArg = str(args, 'user-data');
  const fromStore = str(args, 'store') !== undefined;
  if (extra.length || (!profileName && !userDataArg && !fromStore))
    throw new UsageError('expected one PROFILE (or --user-data FILE, or --resume NAME, or --image NAME --store URL)');
  let image = str(args, 'image');
  if (!image) throw new UsageError('--image is required', { hint: 'qemu: a qcow2 path; multipass: an alias such as 24.04' });
  const baked = fromStore ? await pullBaked(image, args, ctx) : undefined;
  if (baked) image = baked.file;
  const backend = str(args, 'backend') ?? 'qemu';
  if (backend !== 'qemu' && backend !== 'multipass') throw new UsageError(`--backend must be qemu or multipass, got "${backend}"`);
  const accel = str(args, 'accel') ?? 'auto';
  if (accel !== 'auto' && accel !== 'kvm' && accel !== 'tcg') throw new UsageError(`--accel must be auto, kvm or tcg, got "${accel}"`);
  const name = str(args, 'name') ?? path.basename(profileName ?? 'vm').replace(/\.ya?ml$/, '');
  if (!/^[a-z][a-z0-9-]{0,62}$/i.test(name)) throw new UsageError(`--name must start with a letter and hold letters, digits and dashes, got "${name}"`);
  const { rootDisk, dataDisks } = parseDisks(list(args, 'disk'));
  const networkConfigArg = str(args, 'network-config');
  const networkConfigFile = networkConfigArg ? path.resolve(ctx.cwd, networkConfigArg) : undefined;
  if (networkConfigFile) await checkNetworkConfig(networkConfigFile);
  const dryRun = bool(args, 'dry-run');
  const vmDir = path.join(shared.vmsDir, name);

  let userData: string;
  let steps: Step[] = [];
  const set = list(args, 'set');
  const params = parseParams(set);
  const profilesDir = path.resolve(ctx.cwd, str(args, 'profiles-dir') ?? defaultProfilesDir(ctx.cwd));
  const versions = str(args, 'versions');
  let renderedName: string | undefined;
  if (baked) {
    // A baked image carries its profiles: the user-data is identity only.
    userData = renderUserData({ name: baked.name, files: [], parts: { cloudConfig: {}, sysctl: {}, units: [], downloads: [], launch: [] } }, params).text;
    if (baked.readonlyRoot && !dataDisks.some((d) => d.name === 'state')) {
      throw new UsageError(`image ${baked.name} was baked with readonly-root: it needs a state disk`, { hint: 'add --disk state:4G' });
    }
  }
  if (profileName) {
    const { rendered, profile } = await renderProfile({
      profile: profileName,
      profilesDir,
      ...(versions ? { versionsFile: path.resolve(ctx.cwd, versions) } : {}),
      set,
    });
    steps = profile.parts.launch;
    if (!baked) userData = rendered.text;
    renderedName = profile.name;
    if (dryRun && !userDataArg)
      ctx.out.line(
        `# render ${profile.name} (${profile.files.length} profile file(s)) → ${path.join(vmDir, 'user-data')}; ${steps.length} post-launch step(s)`,
      );
  }
  if (userDataArg) {
    const file = path.resolve(ctx.cwd, userDataArg);
    userData = await readFile(file, 'utf8').catch((error: unknown) => {
      throw new IngotError(ErrorCode.userDataInvalid, `user-data not found: ${file}`, { path: file, exitCode: ExitCode.usage, cause: error });
    });
    if (!userData.startsWith('#cloud-config') && !userData.startsWith('#!'))
      ctx.log.warn(`${userDataArg} does not start with #cloud-config (or #!): cloud-init may ignore it`);
    if (dryRun)
      ctx.out.line(
        `# user-data from ${file}${renderedName ? ` (profile ${renderedName} gives the ${steps.length} post-launch step(s) only)` : ''} → ${path.join(vmDir, 'user-data')}`,
      );
  }
  const opt = (key: string) => str(args, key);
  const spec: LaunchSpec = {
    name,
    backend,
    image: backend === 'qemu' ? path.resolve(ctx.cwd, image) : image,
    ...(baked?.format === 'raw' ? { imageFormat: 'raw' as const } : {}),
    userDataFile: path.join(vmDir, 'user-data'),
    ...(networkConfigFile ? { networkConfigFile } : {}),
    cpus: positiveInt(args, 'cpus', 2),
    memory: opt('memory') ?? '2G',
    ...(rootDisk ? { disk: rootDisk } : {}),
    ...(dataDisks.length ? { dataDisks } : {}),
    timeoutSeconds: positiveInt(args, 'timeout', 900),
    vmDir,
    ...(opt('kernel') ? { kernel: path.resolve(ctx.cwd, opt('kernel')!) } : baked?.kernel ? { kernel: baked.kernel } : {}),
    ...(opt('initrd') ? { initrd: path.resolve(ctx.cwd, opt('initrd')!) } : baked?.initrd ? { initrd: baked.initrd } : {}),
    ...(opt('append') ? { append: opt('append')! } : baked?.append ? { append: baked.append } : {}),
    accel,
    ...(opt('ssh-port') ? { sshPort: positiveInt(args, 'ssh-port', 0) } : {}),
  };
  return launch(spec, {
    log: ctx.log,
    signal: ctx.signal,
    dryRun,
    print: (line) => ctx.out.line(line),
    userData: userData!,
    steps,
    env: shared.env,
    rmOnFailure: bool(args, 'rm-on-failure'),
    stopAfter: bool(args, 'stop'),
    readFiles: list(args, 'read'),
    vmsFlag: shared.vmsFlag,
    provenance: {
      ...(profileName ? { profile: profileName, profilesDir } : {}),
      ...(versions ? { versionsFile: path.resolve(ctx.cwd, versions) } : {}),
      set,
      ...(params.user ? { user: params.user } : {}),
      ...(userDataArg ? { userDataFile: path.resolve(ctx.cwd, userDataArg) } : {}),
    },
  });
}

/** `--image NAME --store URL`: pulls the image (and a baked kernel/initrd) into the host cache, verified against the signed index. */
async function pullBaked(name: string, args: ParsedArgs, ctx: CommandContext) {
  const keyArg = str(args, 'public-key');
  if (!keyArg) throw new UsageError('--store needs --public-key FILE: images are launched only from a signed index');
  const publicKey = await readPublicKey(keyArg, ctx.cwd);
  const store = await resolveStore(args, ctx, undefined, { readOnly: true });
  const cacheDir = path.resolve(ctx.cwd, str(args, 'cache') ?? '.ingot/images');
  try {
    const get = (target: string) => pull({ store, cacheDir, publicKey, target, log: ctx.log, signal: ctx.signal });
    const image = await get(name);
    const meta = await store.readMetadata(image.path, ctx.signal);
    const source = meta.status === 'present' ? meta.metadata.source : { type: 'unknown' };
    const kernel = typeof source.kernel === 'string' ? (await get(source.kernel)).localPath : undefined;
    const initrd = typeof source.initrd === 'string' ? (await get(source.initrd)).localPath : undefined;
    ctx.log.info(`image ${name}: ${image.status} ${image.localPath} (${image.sha256})`, { step: 'pull' });
    return {
      name,
      file: image.localPath,
      format: source.format === 'raw' ? ('raw' as const) : ('qcow2' as const),
      readonlyRoot: source.readonlyRoot === true,
      ...(kernel ? { kernel } : {}),
      ...(initrd ? { initrd } : {}),
      ...(typeof source.append === 'string' ? { append: source.append } : {}),
    };
  } finally {
    await store.backend.close();
  }
}

async function runResume(name: string, args: ParsedArgs, ctx: CommandContext, shared: Shared): Promise<LaunchResult> {
  if (args.positionals.length > 1) throw new UsageError('--resume takes at most one PROFILE (default: the one the VM was launched with)');
  for (const option of [
    'image',
    'backend',
    'name',
    'user-data',
    'network-config',
    'disk',
    'kernel',
    'initrd',
    'append',
    'ssh-port',
    'set',
    'accel',
    'memory',
    'cpus',
  ]) {
    if (args.values[option] !== undefined)
      throw new UsageError(`--${option} cannot change an existing VM: --resume only re-runs its post-launch steps`, {
        hint: `to change it, \`ingot vm delete ${name}\` and launch again`,
      });
  }
  const record = await requireRecord(shared.vmsDir, name);
  const profileName = args.positionals[0] ? profileRef(args.positionals[0], ctx.cwd) : record.launch?.profile;
  let steps: Step[] = [];
  if (profileName) {
    const profilesDir = str(args, 'profiles-dir')
      ? path.resolve(ctx.cwd, str(args, 'profiles-dir')!)
      : (record.launch?.profilesDir ?? defaultProfilesDir(ctx.cwd));
    const versions = str(args, 'versions') ? path.resolve(ctx.cwd, str(args, 'versions')!) : record.launch?.versionsFile;
    const { rendered, profile } = await renderProfile({
      profile: profileName,
      profilesDir,
      ...(versions ? { versionsFile: versions } : {}),
      set: record.launch?.set ?? [],
    });
    steps = profile.parts.launch;
    const sha = createHash('sha256').update(rendered.text).digest('hex');
    if (!record.launch?.userDataFile && record.launch?.userDataSha256 && sha !== record.launch.userDataSha256) {
      ctx.log.warn(
        `the cloud-config of ${profile.name} changed since ${name} was launched: --resume re-runs only the post-launch steps; to apply cloud-config changes, delete the VM and launch again`,
      );
    }
    if (record.launch) {
      record.launch.profile = profileName;
      record.launch.profilesDir = profilesDir;
      if (!bool(args, 'dry-run')) await writeRecord(shared.vmsDir, record);
    }
  }
  const env = { ...(record.launch?.env ?? {}), ...shared.env };
  return resume(record, {
    log: ctx.log,
    signal: ctx.signal,
    dryRun: bool(args, 'dry-run'),
    print: (line) => ctx.out.line(line),
    steps,
    env,
    rmOnFailure: bool(args, 'rm-on-failure'),
    stopAfter: bool(args, 'stop'),
    readFiles: list(args, 'read'),
    vmsFlag: shared.vmsFlag,
    ...(str(args, 'timeout') ? { timeoutSeconds: positiveInt(args, 'timeout', 900) } : {}),
  });
}

/** A profile given as a path (has a slash or ends in .yaml) is relative to the working directory; a bare name to the profiles dir. */
export function profileRef(arg: string, cwd: string): string {
  return /[/\\]|\.ya?ml$/.test(arg) ? path.resolve(cwd, arg) : arg;
}

/** Repeated --disk values: one SIZE for the root disk, NAME:SIZE for extra disks. */
export function parseDisks(values: readonly string[]): { rootDisk?: string; dataDisks: DataDisk[] } {
  let rootDisk: string | undefined;
  const dataDisks: DataDisk[] = [];
  const size = /^\d+(\.\d+)?[KMGT]?$/i;
  for (const value of values) {
    const colon = value.indexOf(':');
    if (colon < 0) {
      if (!size.test(value)) throw new UsageError(`--disk expects SIZE or NAME:SIZE (e.g. 20G, state:4G), got "${value}"`);
      if (rootDisk) throw new UsageError('--disk SIZE (the root disk) given twice');
      rootDisk = value;
      continue;
    }
    const name = value.slice(0, colon);
    const diskSize = value.slice(colon + 1);
    // The name is the ext4 label (16 bytes at most) and part of a file name.
    if (!/^[a-z][a-z0-9_-]{0,15}$/i.test(name))
      throw new UsageError(`--disk ${value}: NAME must be a letter and up to 15 letters, digits, _ or - (it becomes the filesystem label)`);
    if (!size.test(diskSize)) throw new UsageError(`--disk ${value}: SIZE must look like 512M or 4G`);
    if (dataDisks.some((d) => d.name === name)) throw new UsageError(`--disk ${name}: given twice`);
    dataDisks.push({ name, size: diskSize.toUpperCase() });
  }
  return { ...(rootDisk ? { rootDisk } : {}), dataDisks };
}

/** Repeated --env KEY=VALUE. */
export function parseEnv(values: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of values) {
    const eq = pair.indexOf('=');
    const key = pair.slice(0, eq);
    if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new UsageError(`--env expects KEY=VALUE with a shell variable name, got "${pair}"`);
    env[key] = pair.slice(eq + 1);
  }
  return env;
}

// A network-config is a YAML mapping: version 1 or 2 (optionally under `network:`).
async function checkNetworkConfig(file: string): Promise<void> {
  let data: unknown;
  try {
    data = parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new IngotError(ErrorCode.userDataInvalid, `--network-config ${file}: ${(error as Error).message}`, {
      path: file,
      exitCode: ExitCode.usage,
      cause: error,
    });
  }
  const config = isRecord(data) && isRecord(data.network) ? data.network : data;
  if (!isRecord(config) || (config.version !== 1 && config.version !== 2)) {
    throw new IngotError(ErrorCode.userDataInvalid, `--network-config ${file}: expected a network config with version: 1 or 2`, {
      path: file,
      exitCode: ExitCode.usage,
      hint: 'see https://cloudinit.readthedocs.io/en/latest/reference/network-config.html',
    });
  }
}

function positiveInt(args: ParsedArgs, option: string, fallback: number): number {
  const value = str(args, option);
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new UsageError(`--${option} expects a positive integer, got "${value}"`);
  return Number(value);
}
