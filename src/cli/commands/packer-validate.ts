/** `ingot packer validate [DIR]`: `packer validate` with its diagnostics as file:line records. */
import { readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { ExitCode, UsageError } from '../../errors.js';
import { secretValues } from '../../packer/runner.js';
import { formatDiagnostic, runPackerValidate } from '../../packer/validate.js';
import { parseVarFlags, sensitiveVarNames } from '../../packer/vars.js';
import { bool, list, type Command } from '../command.js';

/** Refuses a directory without templates before starting packer. */
export async function templateDir(cwd: string, arg: string | undefined): Promise<string> {
  const dir = path.resolve(cwd, arg ?? '.');
  const names = await readdir(dir).catch(() => {
    throw new UsageError(`cannot read directory ${arg ?? '.'}`, { path: dir, hint: 'pass the directory holding the *.pkr.hcl files' });
  });
  if (!names.some((n) => n.endsWith('.pkr.hcl') || n.endsWith('.pkr.json'))) {
    throw new UsageError(`${arg ?? '.'} holds no *.pkr.hcl or *.pkr.json file`, { path: dir, hint: '`ingot packer init --cloud … --out DIR` generates one' });
  }
  return dir;
}

export const command: Command = {
  name: 'packer validate',
  summary: 'Run packer validate on a template directory and report diagnostics with file and line',
  usage: 'packer validate [DIR] [--syntax-only] [--var NAME=VALUE…] [--sensitive NAME…]',
  description: 'Exit 0 when valid, 2 when packer reports errors. Variables go to packer as PKR_VAR_* environment.',
  positionals: true,
  options: {
    'syntax-only': { type: 'boolean', description: 'Only check the syntax (packer validate -syntax-only)' },
    var: { type: 'string', multiple: true, valueName: 'NAME=VALUE', description: 'A template variable (repeatable)' },
    sensitive: { type: 'string', multiple: true, valueName: 'NAME', description: 'A variable whose value is scrubbed from output (repeatable)' },
  },
  async run(args, ctx) {
    if (args.positionals.length > 1) throw new UsageError('expected at most one DIR');
    const dir = await templateDir(ctx.cwd, args.positionals[0]);
    const variables = parseVarFlags(list(args, 'var'));
    const secrets = secretValues(variables, sensitiveVarNames(variables, list(args, 'sensitive')));
    for (const secret of secrets) ctx.addSecret(secret);
    const result = await runPackerValidate(dir, { syntaxOnly: bool(args, 'syntax-only'), variables, secrets, env: ctx.env, signal: ctx.signal });
    const shown = path.relative(ctx.cwd, dir) || '.';
    ctx.out.result({ dir: shown, valid: result.ok, diagnostics: result.diagnostics }, () =>
      result.diagnostics.length > 0
        ? result.diagnostics.map((d) => formatDiagnostic(d, shown))
        : [`${shown}: valid${bool(args, 'syntax-only') ? ' (syntax only)' : ''}`],
    );
    return result.ok ? ExitCode.ok : ExitCode.usage;
  },
};
