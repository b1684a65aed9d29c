/** `ingot cloud-init validate FILE…`: cloud-init's full schema (YAML 1.1, every module and key), ingot's stricter warnings, and `cloud-init schema` when installed. */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { ExitCode, UsageError } from '../../errors.js';
import { renderProblem, type Problem } from '../../manifest/problems.js';
import { SCHEMA_VERSION } from '../../provision/cloud-init/schema-data.js';
import { cloudInitAvailable, cloudInitSchema, cloudInitVersion, compareVersions, reconcileSchemaProblems } from '../../provision/cloud-init-schema.js';
import { validateUserData } from '../../provision/validate.js';
import { bool, type Command } from '../command.js';

export const command: Command = {
  name: 'cloud-init validate',
  summary: "Check #cloud-config user-data against all of cloud-init's modules and keys (YAML 1.1 as cloud-init reads it)",
  usage: 'cloud-init validate FILE… [--no-schema] [--strict]',
  description: [
    'Reads each file as cloud-init does (YAML 1.1: yes/no are booleans, 0644 is octal, a repeated key keeps its last value)',
    `and checks it against every documented cloud-init module and key (cloud-init ${SCHEMA_VERSION}+): types, allowed values,`,
    'required keys, unknown keys with "did you mean". Deprecated keys are warnings naming the replacement; so are ingot\'s',
    'stricter rules (runcmd without set -e, repeated keys, two write_files for one path).',
    "When cloud-init is installed, `cloud-init schema --config-file` runs too; if it is older than ingot's schema data, what",
    'only it refuses is reported as a warning naming its version.',
    'Exit 0 when valid (warnings allowed; --strict makes warnings fail), 2 when any file has errors.',
  ].join('\n'),
  positionals: true,
  options: {
    'no-schema': { type: 'boolean', description: 'Skip `cloud-init schema --config-file` even if cloud-init is installed' },
    strict: { type: 'boolean', description: 'Exit 2 on warnings too (deprecations, not-strict runcmd, repeated keys)' },
  },
  async run(args, ctx) {
    if (!args.positionals.length) throw new UsageError('expected at least one FILE');
    const useSchema = !bool(args, 'no-schema') && cloudInitAvailable(ctx.env);
    const hostVersion = useSchema ? await cloudInitVersion({ signal: ctx.signal }) : undefined;
    if (useSchema && hostVersion && compareVersions(hostVersion, SCHEMA_VERSION) < 0) {
      ctx.log.info(`installed cloud-init ${hostVersion} is older than ingot's schema data (${SCHEMA_VERSION}): keys it does not know are warnings`);
    }
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
      const loads = !problems.some((p) => p.code.startsWith('yaml-') || p.code === 'header' || p.code === 'jinja');
      if (useSchema && loads) {
        const host = (await cloudInitSchema(file, text, { signal: ctx.signal })).map((p) => ({ ...p, file: arg }));
        problems.push(...reconcileSchemaProblems(problems, host, hostVersion, SCHEMA_VERSION));
      }
      problems.sort((a, b) => a.line - b.line || a.column - b.column);
      results.push({ file: arg, problems, text });
    }
    const strict = bool(args, 'strict');
    const failing = (p: Problem) => p.severity === 'error' || strict;
    const checkedBy = useSchema ? ` (ingot schema ${SCHEMA_VERSION} + cloud-init ${hostVersion ?? '?'} schema)` : ` (ingot schema ${SCHEMA_VERSION})`;
    ctx.out.result(
      results.map((r) => ({ file: r.file, valid: !r.problems.some(failing), problems: r.problems })),
      () =>
        results.flatMap((r) => {
          const errors = r.problems.filter((p) => p.severity === 'error').length;
          const warnings = r.problems.length - errors;
          const verdict = `${r.file}: ${r.problems.some(failing) ? 'invalid' : 'valid'}${checkedBy}${errors ? `, ${errors} error${errors > 1 ? 's' : ''}` : ''}${warnings ? `, ${warnings} warning${warnings > 1 ? 's' : ''}` : ''}`;
          return [...r.problems.map((p) => renderProblem(p, r.text)), verdict];
        }),
    );
    return results.some((r) => r.problems.some(failing)) ? ExitCode.usage : ExitCode.ok;
  },
};
