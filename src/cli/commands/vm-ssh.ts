/** `ingot vm ssh NAME [-- CMD…]`: an interactive login (or one command) over SSH; multipass: multipass shell/exec. */
import { spawn } from 'node:child_process';
import { UsageError } from '../../errors.js';
import { shellCommand } from '../../provision/launch/lifecycle.js';
import { requireRecord, vmsDir } from '../../provision/launch/vm-state.js';
import { shellLine } from '../../provision/shell.js';
import { bool, str, type Command } from '../command.js';

export const command: Command = {
  name: 'vm ssh',
  summary: 'Log in to a VM over SSH (multipass: multipass shell), or run one command',
  usage: 'vm ssh NAME [--user U] [-i KEY] [--print] [--vms-dir DIR] [-- COMMAND…]',
  description: [
    "qemu: ssh to the forwarded port on 127.0.0.1 as the --set user of the launch (or --user); the guest's host key is",
    'accepted the first time and remembered in VMS-DIR/NAME/known_hosts. multipass: `multipass shell NAME` (or exec).',
    "--print shows the command instead of running it. Exit code: ssh's (the remote command's).",
  ].join('\n'),
  positionals: true,
  options: {
    user: { type: 'string', valueName: 'USER', description: 'Login user (default: the --set user= of the launch)' },
    identity: { type: 'string', short: 'i', valueName: 'KEY', description: 'Private key file for ssh -i' },
    print: { type: 'boolean', description: 'Print the command instead of running it' },
    'vms-dir': { type: 'string', valueName: 'DIR', description: 'Where VMs are kept (default ./.ingot/vms)' },
  },
  async run(args, ctx) {
    const [name, ...command] = args.positionals;
    if (!name) throw new UsageError('expected a VM NAME');
    const record = await requireRecord(vmsDir(ctx.cwd, str(args, 'vms-dir')), name);
    const user = str(args, 'user');
    const identity = str(args, 'identity');
    const cmd = shellCommand(record, { ...(user ? { user } : {}), ...(identity ? { identity } : {}), command });
    if (bool(args, 'print')) {
      ctx.out.result(cmd, () => shellLine([cmd.command, ...cmd.args]));
      return;
    }
    // Interactive: the terminal belongs to ssh until it exits.
    return new Promise<number>((resolve, reject) => {
      const child = spawn(cmd.command, cmd.args, { stdio: 'inherit', env: ctx.env });
      const onAbort = () => child.kill('SIGTERM');
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      child.on('error', (error) =>
        reject(new UsageError(`cannot run ${cmd.command}: ${error.message}`, { hint: cmd.command === 'ssh' ? 'install openssh-client' : 'install multipass' })),
      );
      child.on('close', (code, signal) => {
        ctx.signal.removeEventListener('abort', onAbort);
        resolve(code ?? (signal ? 128 + 15 : 1));
      });
    });
  },
};
