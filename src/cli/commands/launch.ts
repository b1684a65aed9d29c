/** `ingot launch`: render a profile, start a VM (qemu or multipass), report ready only when cloud-init succeeded. */
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import type { LaunchSpec } from '../../provision/launch/backend.js';
import { launch } from '../../provision/launch/launch.js';
import { defaultProfilesDir } from '../../provision/paths.js';
import type { PostLaunch } from '../../provision/profile.js';
import { renderProfile } from '../../provision/render-profile.js';
import { bool, list, str, type Command } from '../command.js';
import { writeFileAtomic } from '../../util/fs-atomic.js';

export const command: Command = {
  name: 'launch',
  summary: 'Launch a VM with a rendered profile and wait until cloud-init really succeeded',
  usage: 'launch PROFILE --image IMAGE [--backend qemu|multipass] [--name N] [--set key=value…] [--dry-run] [options]',
  description: [
    'qemu: IMAGE is a qcow2 used as a read-only base (an overlay is created in --work-dir);',
    'multipass: IMAGE is an alias ("24.04") or a file:// URL.',
    'Readiness is `cloud-init status --wait --long` in the guest: 0 ready; 1 (error) and 2 (degraded) fail the launch.',
    'Exit 0 when ready, 1 when the launch, cloud-init or a post-launch step failed or timed out (the VM is then stopped).',
    'Example: ingot launch docker --image base.qcow2 --set user=alice --set ssh_key="ssh-ed25519 AAAA…"',
  ].join('\n'),
  positionals: true,
  options: {
    image: { type: 'string', valueName: 'IMAGE', description: 'Base image (required)' },
    backend: { type: 'string', valueName: 'qemu|multipass', description: 'Launch backend (default: qemu)' },
    name: { type: 'string', valueName: 'NAME', description: 'VM name (default: PROFILE)' },
    'profiles-dir': { type: 'string', valueName: 'DIR', description: 'Directory of profiles' },
    versions: { type: 'string', valueName: 'FILE', description: 'versions.yaml with pins' },
    set: { type: 'string', multiple: true, valueName: 'KEY=VALUE', description: 'Deploy-time parameter (identity)' },
    'user-data': { type: 'string', valueName: 'FILE', description: 'Use this user-data instead of rendering PROFILE' },
    cpus: { type: 'string', valueName: 'N', description: 'vCPUs (default 2)' },
    memory: { type: 'string', valueName: 'SIZE', description: 'Memory (default 2G)' },
    disk: { type: 'string', valueName: 'SIZE', description: 'Disk size (multipass default 10G; qemu default: the base image size)' },
    timeout: { type: 'string', valueName: 'SECONDS', description: 'Launch deadline incl. cloud-init and post-launch (default 900)' },
    accel: { type: 'string', valueName: 'auto|kvm|tcg', description: 'qemu accelerator (default auto: probe KVM, else tcg)' },
    kernel: { type: 'string', valueName: 'FILE', description: 'qemu: boot this kernel directly' },
    initrd: { type: 'string', valueName: 'FILE', description: 'qemu: initrd for --kernel' },
    append: { type: 'string', valueName: 'CMDLINE', description: 'qemu: kernel command line (default "root=/dev/vda rw console=ttyS0")' },
    'work-dir': { type: 'string', valueName: 'DIR', description: 'qemu: overlay, seed, sockets, console log (default .ingot/vms/NAME)' },
    'ssh-port': { type: 'string', valueName: 'PORT', description: 'qemu: host port forwarded to guest port 22 (default: a free one)' },
    read: { type: 'string', multiple: true, valueName: 'PATH', description: 'Print this guest file once ready (repeatable)' },
    stop: { type: 'boolean', description: 'Stop the VM after it was verified (smoke tests)' },
    'dry-run': { type: 'boolean', description: 'Print every command instead of running it' },
  },
  async run(args, ctx) {
    const [profileName, ...extra] = args.positionals;
    const userDataArg = str(args, 'user-data');
    if (extra.length || (!profileName && !userDataArg)) throw new UsageError('expected one PROFILE (or --user-data FILE)');
    const image = str(args, 'image');
    if (!image) throw new UsageError('--image is required', { hint: 'qemu: a qcow2 path; multipass: an alias such as 24.04' });
    const backend = str(args, 'backend') ?? 'qemu';
    if (backend !== 'qemu' && backend !== 'multipass') throw new UsageError(`--backend must be qemu or multipass, got "${backend}"`);
    const accel = str(args, 'accel') ?? 'auto';
    if (accel !== 'auto' && accel !== 'kvm' && accel !== 'tcg') throw new UsageError(`--accel must be auto, kvm or tcg, got "${accel}"`);
    const name = str(args, 'name') ?? path.basename(profileName ?? 'vm').replace(/\.ya?ml$/, '');
    if (!/^[a-z][a-z0-9-]{0,62}$/i.test(name)) throw new UsageError(`--name must be letters, digits and dashes, got "${name}"`);
    const int = (option: string, fallback: number) => {
      const value = str(args, option);
      if (value === undefined) return fallback;
      if (!/^\d+$/.test(value) || Number(value) <= 0) throw new UsageError(`--${option} expects a positive integer, got "${value}"`);
      return Number(value);
    };
    const workDir = path.resolve(ctx.cwd, str(args, 'work-dir') ?? path.join('.ingot', 'vms', name));
    const dryRun = bool(args, 'dry-run');

    let userDataFile: string;
    let post: PostLaunch | undefined;
    if (userDataArg) {
      userDataFile = path.resolve(ctx.cwd, userDataArg);
    } else {
      const profilesDir = path.resolve(ctx.cwd, str(args, 'profiles-dir') ?? defaultProfilesDir(ctx.cwd));
      const versions = str(args, 'versions');
      const { rendered, profile } = await renderProfile({
        profile: profileName!,
        profilesDir,
        ...(versions ? { versionsFile: path.resolve(ctx.cwd, versions) } : {}),
        set: list(args, 'set'),
      });
      post = profile.parts.launch;
      userDataFile = path.join(workDir, 'user-data');
      if (dryRun) ctx.out.line(`# render ${profile.name} (${profile.files.length} profile file(s)) → ${userDataFile}`);
      else {
        await mkdir(workDir, { recursive: true });
        await writeFileAtomic(userDataFile, rendered.text, 0o600);
      }
    }
    const opt = (key: string) => str(args, key);
    const spec: LaunchSpec = {
      name,
      backend,
      image: backend === 'qemu' ? path.resolve(ctx.cwd, image) : image,
      userDataFile,
      cpus: int('cpus', 2),
      memory: opt('memory') ?? '2G',
      ...(opt('disk') ? { disk: opt('disk')! } : {}),
      timeoutSeconds: int('timeout', 900),
      workDir,
      ...(opt('kernel') ? { kernel: path.resolve(ctx.cwd, opt('kernel')!) } : {}),
      ...(opt('initrd') ? { initrd: path.resolve(ctx.cwd, opt('initrd')!) } : {}),
      ...(opt('append') ? { append: opt('append')! } : {}),
      accel,
      ...(opt('ssh-port') ? { sshPort: int('ssh-port', 0) } : {}),
    };
    const retryCommand = `run the same \`ingot launch\` command again (VM ${name})`;
    const result = await launch(spec, {
      log: ctx.log,
      signal: ctx.signal,
      dryRun,
      print: (line) => ctx.out.line(line),
      ...(post ? { post } : {}),
      stopAfter: bool(args, 'stop'),
      readFiles: list(args, 'read'),
      retryCommand,
    });
    if (dryRun) return;
    ctx.out.result(
      { name, backend, ready: true, cloudInit: { exitCode: result.cloudInit.exitCode, status: result.cloudInit.status, detail: result.cloudInit.detail }, info: result.info, files: result.files, stopped: result.stopped, durationMs: result.durationMs },
      () => [
        `${name}: ready (cloud-init status: ${result.cloudInit.status ?? 'done'}) after ${Math.round(result.durationMs / 1000)} s${result.info.accelerator ? ` [${String(result.info.accelerator)}]` : ''}`,
        ...(result.info.sshPort ? [`  ssh -p ${String(result.info.sshPort)} USER@127.0.0.1`] : []),
        ...(result.stopped ? ['  the VM was stopped (--stop)'] : result.info.pid ? [`  qemu pid ${String(result.info.pid)}; stop with: kill ${String(result.info.pid)}`] : []),
        ...Object.entries(result.files).flatMap(([file, content]) => [`--- ${file}`, content.trimEnd()]),
      ],
    );
  },
};
