/** `ingot vm exec NAME -- CMD…`: runs a command as root in a VM; exits with its exit code. */
import { UsageError } from '../../errors.js';
import { execInVm } from '../../provision/launch/lifecycle.js';
import { vmsDir } from '../../provision/launch/vm-state.js';
import { str, type Command } from '../command.js';

export const command: Command = {
  name: 'vm exec',
  summary: "Run a command as root in a VM (exit code = the command's)",
  usage: 'vm exec NAME [--timeout SECONDS] [--vms-dir DIR] -- COMMAND [ARG…]',
  description: [
    'qemu: through the guest agent (no SSH, no keys); output is printed when the command ends. multipass: `multipass exec NAME -- sudo …`.',
    "No shell is involved: wrap pipes in `sh -c '…'`. Example: ingot vm exec polis -- cloud-init status --long",
  ].join('\n'),
  positionals: true,
  options: {
    timeout: { type: 'string', valueName: 'SECONDS', description: 'Give up on the command after this long (default 600)' },
    'vms-dir': { type: 'string', valueName: 'DIR', description: 'Where VMs are kept (default ./.ingot/vms)' },
  },
  async run(args, ctx) {
    const [name, ...argv] = args.positionals;
    if (!name || !argv.length) throw new UsageError('expected NAME -- COMMAND', { hint: 'ingot vm exec polis -- systemctl status polis' });
    const timeout = str(args, 'timeout');
    if (timeout !== undefined && !/^\d+$/.test(timeout)) throw new UsageError(`--timeout expects seconds, got "${timeout}"`);
    const r = await execInVm(
      name,
      argv,
      { vmsDir: vmsDir(ctx.cwd, str(args, 'vms-dir')), log: ctx.log, signal: ctx.signal },
      timeout ? { timeoutSeconds: Number(timeout) } : {},
    );
    if (ctx.json) ctx.out.result(r, () => '');
    else {
      if (r.stdout) ctx.out.line(r.stdout.replace(/\n$/, ''));
      ctx.out.stderr(r.stderr);
    }
    if (r.timedOut) ctx.log.warn(`the command did not finish within ${timeout ?? 600} s and was killed`);
    return r.exitCode < 0 ? 1 : r.exitCode;
  },
};
