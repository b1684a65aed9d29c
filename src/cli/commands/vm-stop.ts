/** `ingot vm stop NAME`: powers a VM off, keeping it to start again. */
import { UsageError } from '../../errors.js';
import { stopVm } from '../../provision/launch/lifecycle.js';
import { vmsDir } from '../../provision/launch/vm-state.js';
import { str, type Command } from '../command.js';

export const command: Command = {
  name: 'vm stop',
  summary: 'Power a VM off cleanly (it can be started again)',
  usage: 'vm stop NAME [--timeout SECONDS] [--vms-dir DIR]',
  description: 'qemu: a clean shutdown through the guest agent; QEMU is killed if the guest is not off after --timeout. multipass: `multipass stop NAME`.',
  positionals: true,
  options: {
    timeout: { type: 'string', valueName: 'SECONDS', description: 'Force it off after this long (default 90)' },
    'vms-dir': { type: 'string', valueName: 'DIR', description: 'Where VMs are kept (default ./.ingot/vms)' },
  },
  async run(args, ctx) {
    const [name, ...extra] = args.positionals;
    if (!name || extra.length) throw new UsageError('expected one VM NAME');
    const timeout = str(args, 'timeout');
    if (timeout !== undefined && !/^\d+$/.test(timeout)) throw new UsageError(`--timeout expects seconds, got "${timeout}"`);
    const outcome = await stopVm(
      name,
      { vmsDir: vmsDir(ctx.cwd, str(args, 'vms-dir')), log: ctx.log, signal: ctx.signal },
      timeout ? { timeoutSeconds: Number(timeout) } : {},
    );
    ctx.out.result({ name, outcome }, () => `${name}: ${outcome === 'stopped' ? 'stopped' : 'was not running'}`);
  },
};
