/** `ingot vm list`: the VMs ingot launched (qemu and multipass), with their live state. */
import { listVms } from '../../provision/launch/lifecycle.js';
import { vmsDir } from '../../provision/launch/vm-state.js';
import { str, type Command } from '../command.js';
import { renderTable } from '../table.js';

export const command: Command = {
  name: 'vm list',
  summary: 'List launched VMs with their state',
  usage: 'vm list [--vms-dir DIR] [--json]',
  description: [
    'STATE is what the backend says now (running, stopped, missing); PHASE is how far the launch got',
    '(creating, provisioning, ready, failed — a failed launch keeps its VM until `ingot vm delete`).',
  ].join('\n'),
  options: {
    'vms-dir': { type: 'string', valueName: 'DIR', description: 'Where VMs are kept (default ./.ingot/vms)' },
  },
  async run(args, ctx) {
    const dir = vmsDir(ctx.cwd, str(args, 'vms-dir'));
    const vms = await listVms({ vmsDir: dir, log: ctx.log, signal: ctx.signal });
    ctx.out.result(vms, () =>
      vms.length
        ? renderTable(
            ['NAME', 'BACKEND', 'STATE', 'PHASE', 'SSH', 'CREATED'],
            vms.map((v) => [v.name, v.backend, v.status, v.phase, v.sshPort ? `127.0.0.1:${v.sshPort}` : '-', v.createdAt.replace(/\.\d+Z$/, 'Z')]),
          )
        : `no VMs in ${dir}`,
    );
  },
};
