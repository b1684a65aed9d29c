/** `ingot cloud-init validate FILE…`: ingot's structural checks plus `cloud-init schema` when installed. */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { ExitCode, UsageError } from '../../errors.js';
import { renderProblem, type Problem } from '../../manifest/problems.js';
import { cloudInitAvailable, cloudInitSchema } from '../../provision/cloud-init-schema.js';
import { validateUserData } from '../../provision/validate.js';
import { bool, type Command } from '../command.js';

export const command: Command = {
  name: 'cloud-init validate',
  summary: 'Check #cloud-config user-data (keys, types, strict runcmd; cloud-init schema when installed)',
  usage: 'cloud-init validate FILE… [--no-schema]',
  description: 'Exit 0 when valid (warnings allowed), 2 when any file has errors.',
  positionals: true,
  options: {
    'no-schema': { type: 'boolean', description: "Skip `cloud-init schema --config-file` even if cloud-init is installed" },
  },
  async run(args, ctx) {
    if (!args.positionals.length) throw new UsageError('expected at least one FILE');
    const useSchema = !bool(args, 'no-schema') && cloudInitAvailable(ctx.env);
    if (!useSchema && !bool(args, 'no-schema')) ctx.log.info('cloud-init is not installed: running ingot\'s own checks only');
    const results: { file: string; problems: Problem[]; text: string }[] = [];
    for (const arg of args.positionals) {
      const file = path.resolve(ctx.cwd, arg);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch {
        throw new UsageError(`cannot read ${arg}`, { path: file });
      }
      const problems = validateUserData(text, arg);
      if (useSchema && !problems.some((p) => p.code.startsWith('yaml-'))) problems.push(...(await cloudInitSchema(file, text, { signal: ctx.signal })).map((p) => ({ ...p, file: arg })));
      problems.sort((a, b) => a.line - b.line || a.column - b.column);
      results.push({ file: arg, problems, text });
    }
    const errors = results.flatMap((r) => r.problems).filter((p) => p.severity === 'error').length;
    ctx.out.result(
      results.map((r) => ({ file: r.file, valid: !r.problems.some((p) => p.severity === 'error'), problems: r.problems })),
      () => results.flatMap((r) => (r.problems.length ? r.problems.map((p) => renderProblem(p, r.text)) : [`${r.file}: valid${useSchema ? ' (ingot + cloud-init schema)' : ''}`])),
    );
    return errors ? ExitCode.usage : ExitCode.ok;
  },
};
