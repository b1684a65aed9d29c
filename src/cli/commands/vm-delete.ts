/** `ingot vm delete NAME`: removes a VM and everything ingot kept for it. */
import { UsageError } from '../../errors.js';
import { deleteVm } from '../../provision/launch/lifecycle.js';
import { vmsDir } from '../../provision/launch/vm-state.js';
import { str, type Command } from '../command.js';

export const command: Command = {
  name: 'vm delete',
  summary: 'Remove a VM (running or not) with its disks and record',
  usage: 'vm delete NAME [--vms-dir DIR]',
  description:
    'qemu: kills QEMU and removes VMS-DIR/NAME (overlay, seed, data disks, console log). multipass: `multipass delete --purge NAME`, then the record.',
  positionals: true,
  options: {
    'vms-dir': { type: 'string', valueName: 'DIR', description: 'Where VMs are kept (default ./.ingot/vms)' },
  },
  async run(args, ctx) {
    const [name, ...extra] = args.positionals;
    if (!name || extra.length) throw new UsageError('expected one VM NAME');
    const record = await deleteVm(name, { vmsDir: vmsDir(ctx.cwd, str(args, 'vms-dir')), log: ctx.log, signal: ctx.signal });
    ctx.out.result({ name, backend: record.backend, deleted: true }, () => `${name}: deleted`);
  },
};
