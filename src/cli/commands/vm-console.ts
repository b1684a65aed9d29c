/** `ingot vm console NAME`: the serial console of a qemu VM (interactive, or its log). */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, IngotError, UsageError } from '../../errors.js';
import { consolePaths } from '../../provision/launch/lifecycle.js';
import { requireRecord, vmsDir } from '../../provision/launch/vm-state.js';
import { bool, str, type Command } from '../command.js';

export const command: Command = {
  name: 'vm console',
  summary: 'Attach to the serial console of a qemu VM (Ctrl-] detaches), or print its log',
  usage: 'vm console NAME [--log] [--vms-dir DIR]',
  description: [
    'The console is a unix socket QEMU serves (VMS-DIR/NAME/console.sock); everything it shows since the first boot is also',
    'in VMS-DIR/NAME/console.log, which --log prints. Input that is not a terminal is sent as it is, and the command ends',
    'two seconds after it ends. multipass has no serial console: use `ingot vm ssh`.',
  ].join('\n'),
  positionals: true,
  options: {
    log: { type: 'boolean', description: 'Print the console log instead of attaching' },
    'vms-dir': { type: 'string', valueName: 'DIR', description: 'Where VMs are kept (default ./.ingot/vms)' },
  },
  async run(args, ctx) {
    const [name, ...extra] = args.positionals;
    if (!name || extra.length) throw new UsageError('expected one VM NAME');
    const record = await requireRecord(vmsDir(ctx.cwd, str(args, 'vms-dir')), name);
    const paths = consolePaths(record);
    if (bool(args, 'log')) {
      await stat(paths.log).catch(() => {
        throw new IngotError(ErrorCode.vmState, `VM ${name} has no console log yet`, { path: paths.log });
      });
      for await (const chunk of createReadStream(paths.log)) process.stdout.write(chunk as Buffer);
      return;
    }
    const socket = connect(paths.socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', (error) =>
        reject(
          new IngotError(ErrorCode.vmState, `cannot attach to the console of ${name}: ${error.message}`, { hint: `is it running? \`ingot vm start ${name}\`` }),
        ),
      );
    });
    const stdin = process.stdin;
    const tty = stdin.isTTY;
    if (tty) {
      process.stderr.write(`connected to the serial console of ${name}; Ctrl-] detaches\r\n`);
      stdin.setRawMode(true);
    }
    socket.pipe(process.stdout);
    const done = new Promise<void>((resolve) => {
      const finish = () => {
        if (tty) stdin.setRawMode(false);
        stdin.pause();
        socket.destroy();
        resolve();
      };
      socket.on('close', finish);
      ctx.signal.addEventListener('abort', finish, { once: true });
      stdin.on('data', (data: Buffer) => {
        // Ctrl-] (0x1d) detaches, as with telnet and virsh console.
        const at = tty ? data.indexOf(0x1d) : -1;
        if (at >= 0) {
          socket.write(data.subarray(0, at));
          finish();
        } else socket.write(data);
      });
      stdin.on('end', () => {
        void sleep(2000).then(finish);
      });
    });
    stdin.resume();
    await done;
  },
};
