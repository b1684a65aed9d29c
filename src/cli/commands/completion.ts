/** `ingot completion bash|zsh|fish`: a shell completion script generated from the command registry. */
import { UsageError } from '../../errors.js';
import type { Command } from '../command.js';
import { completionModel, completionScript, SHELLS, type Shell } from '../completion.js';
import { loadCommands } from '../help.js';

export const command: Command = {
  name: 'completion',
  summary: 'Print a shell completion script (bash, zsh or fish)',
  usage: 'completion bash|zsh|fish',
  description: [
    'Completes commands, sub-commands, every flag, files for FILE options, directories for DIR options,',
    'and the values of options such as --log-format. Load it in the current shell:',
    '  source <(ingot completion bash)',
    '  source <(ingot completion zsh)     # after compinit',
    '  ingot completion fish | source',
    'or install it for every new shell:',
    '  ingot completion bash > ~/.local/share/bash-completion/completions/ingot',
    '  ingot completion zsh > "${fpath[1]}/_ingot"',
    '  ingot completion fish > ~/.config/fish/completions/ingot.fish',
    'Generate it again after upgrading ingot: new commands and flags appear only then.',
  ].join('\n'),
  options: {},
  positionals: true,
  async run(args, ctx) {
    const [shell, extra] = args.positionals;
    if (shell === undefined || !(SHELLS as readonly string[]).includes(shell)) {
      throw new UsageError(shell === undefined ? 'which shell? expected bash, zsh or fish' : `unknown shell "${shell}": expected bash, zsh or fish`);
    }
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
    const script = completionScript(shell as Shell, completionModel(await loadCommands()));
    ctx.out.result({ shell, script }, () => script.replace(/\n$/, ''));
  },
};
