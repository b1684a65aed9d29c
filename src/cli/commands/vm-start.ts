/** `ingot vm start NAME`: boots a stopped VM again, without provisioning it again. */
import { UsageError } from '../../errors.js';
import { startVm } from '../../provision/launch/lifecycle.js';
import { vmsDir } from '../../provision/launch/vm-state.js';
import { str, type Command } from '../command.js';

export const command: Command = {
  name: 'vm start',
  summary: 'Start a stopped VM (same disk and seed: cloud-init does not provision again)',
  usage: 'vm start NAME [--timeout SECONDS] [--vms-dir DIR]',
  description: [
    'qemu: QEMU is started again on the kept overlay, seed and data disks (the same instance-id, so cloud-init only',
    'runs its per-boot stages); the SSH port is kept when it is still free. multipass: `multipass start NAME`.',
    'Returns once `cloud-init status --wait` is done in the guest.',
  ].join('\n'),
  positionals: true,
  options: {
    timeout: { type: 'string', valueName: 'SECONDS', description: 'Wait this long for the guest (default 300)' },
    'vms-dir': { type: 'string', valueName: 'DIR', description: 'Where VMs are kept (default ./.ingot/vms)' },
  },
  async run(args, ctx) {
    const [name, ...extra] = args.positionals;
    if (!name || extra.length) throw new UsageError('expected one VM NAME');
    const timeout = str(args, 'timeout');
    if (timeout !== undefined && !/^\d+$/.test(timeout)) throw new UsageError(`--timeout expects seconds, got "${timeout}"`);
    const { instance, cloudInit, alreadyRunning } = await startVm(
      name,
      { vmsDir: vmsDir(ctx.cwd, str(args, 'vms-dir')), log: ctx.log, signal: ctx.signal },
      timeout ? { timeoutSeconds: Number(timeout) } : {},
    );
    instance.release();
    ctx.out.result(
      { name, alreadyRunning, cloudInit: { exitCode: cloudInit.exitCode, status: cloudInit.status }, info: instance.info },
      () =>
        `${name}: ${alreadyRunning ? 'already running' : 'started'} (cloud-init status: ${cloudInit.status ?? 'done'})${instance.info.sshPort ? `; ssh port ${String(instance.info.sshPort)}` : ''}`,
    );
  },
};
