/** `ingot packer build [DIR]`: a packer build with live, scrubbed output and Ctrl-C handled cleanly. */
import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import { ON_ERROR, runPackerBuild, secretValues, type OnError } from '../../packer/runner.js';
import { parseVarFlags, sensitiveVarNames, splitList } from '../../packer/vars.js';
import { bool, list, str, type Command } from '../command.js';
import { templateDir } from './packer-validate.js';

export const command: Command = {
  name: 'packer build',
  summary: 'Run packer build on a template directory (live output, secrets scrubbed, clean Ctrl-C)',
  usage: 'packer build [DIR] [--var NAME=VALUE…] [--sensitive NAME…] [--only BUILD…] [--on-error cleanup|abort|run-cleanup-provisioner] [--force]',
  description: [
    'Variables reach packer as PKR_VAR_* environment, never on its command line. Values of --sensitive',
    'variables (and of names containing secret, password, token, credential, access_key, private_key,',
    'api_key) are replaced by *** everywhere. Ctrl-C sends SIGINT to packer so it can delete its cloud',
    'resources, then SIGKILL after 15 s.',
  ].join('\n'),
  positionals: true,
  options: {
    var: { type: 'string', multiple: true, valueName: 'NAME=VALUE', description: 'A template variable (repeatable)' },
    sensitive: { type: 'string', multiple: true, valueName: 'NAME', description: 'A variable whose value is scrubbed from output (repeatable)' },
    only: { type: 'string', multiple: true, valueName: 'BUILD', description: 'Build only these sources, e.g. amazon-ebs.main (repeatable or comma-separated)' },
    'on-error': { type: 'string', valueName: 'MODE', choices: ON_ERROR, description: `On failure: ${ON_ERROR.join(', ')} (default cleanup)` },
    force: { type: 'boolean', description: 'Pass -force: delete existing artifacts first' },
  },
  async run(args, ctx) {
    if (args.positionals.length > 1) throw new UsageError('expected at most one DIR');
    const dir = await templateDir(ctx.cwd, args.positionals[0]);
    const onError = str(args, 'on-error');
    if (onError !== undefined && !(ON_ERROR as readonly string[]).includes(onError)) {
      throw new UsageError(`--on-error must be one of ${ON_ERROR.join(', ')}, got "${onError}"`, {
        hint: onError === 'ask' ? '"ask" needs an interactive packer; run packer directly for that' : undefined,
      });
    }
    const variables = parseVarFlags(list(args, 'var'));
    const sensitive = sensitiveVarNames(variables, list(args, 'sensitive'));
    for (const secret of secretValues(variables, sensitive)) ctx.addSecret(secret);
    const only = splitList(list(args, 'only'));
    const result = await runPackerBuild({
      dir,
      variables,
      sensitive,
      ...(only.length ? { only } : {}),
      ...(onError ? { onError: onError as OnError } : {}),
      force: bool(args, 'force'),
      env: ctx.env,
      signal: ctx.signal,
      log: ctx.log.child({ image: path.basename(dir) }),
    });
    ctx.out.result({ dir: path.relative(ctx.cwd, dir) || '.', durationMs: result.durationMs, artifacts: result.artifacts }, () => [
      `built in ${(result.durationMs / 1000).toFixed(1)} s`,
      ...result.artifacts.map((a) => `${a.build}: ${a.description ?? a.id ?? ''}${a.files.length ? ` (${a.files.join(', ')})` : ''}`),
    ]);
  },
};
