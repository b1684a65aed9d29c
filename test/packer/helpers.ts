/** Shared fixtures for the packer tests: a real null-builder template, a capturing logger, the CLI in-process. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { createLogger, type Logger } from '../../src/log/logger.js';
import { interp, ref, toHcl, type HclItem } from '../../src/packer/hcl.js';

/** A logger that keeps every formatted line (the real logger, writing to an array). */
export function captureLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ format: 'text', level: 'debug', write: (line) => lines.push(line) }), lines };
}

/** Bytes the fixture build writes for a greeting: the greeting line plus 64 KiB of zeros. */
export function expectedArtifact(greeting: string): Buffer {
  return Buffer.concat([Buffer.from(`${greeting}\n`), Buffer.alloc(65536)]);
}

/**
 * Writes a null-builder template whose shell-local provisioner writes
 * output/disk.raw, echoes the api_token variable (to test scrubbing), can
 * sleep (to test Ctrl-C) and can fail on purpose. Built with ingot's own HCL writer.
 */
export function writeNullTemplate(dir: string, extraComment = ''): string {
  mkdirSync(dir, { recursive: true });
  const variable = (name: string, value: string): HclItem => ({
    block: 'variable',
    labels: [name],
    body: [
      { attr: 'type', value: ref('string') },
      { attr: 'default', value },
    ],
  });
  const items: HclItem[] = [
    ...(extraComment ? [{ comment: extraComment }] : []),
    variable('greeting', 'hello'),
    variable('api_token', ''),
    variable('sleep_seconds', '0'),
    variable('fail', 'no'),
    { block: 'source', labels: ['null', 'main'], body: [{ attr: 'communicator', value: 'none' }] },
    {
      block: 'build',
      body: [
        { attr: 'sources', value: ['source.null.main'] },
        {
          block: 'provisioner',
          labels: ['shell-local'],
          body: [
            {
              attr: 'environment_vars',
              value: [interp('GREETING=', ref('var.greeting')), interp('FAIL=', ref('var.fail')), interp('NAP=', ref('var.sleep_seconds'))],
            },
            {
              attr: 'inline',
              value: [
                'mkdir -p output',
                '{ printf "%s\\n" "$GREETING"; head -c 65536 /dev/zero; } > output/disk.raw',
                interp('echo "using token ', ref('var.api_token'), '"'),
                'if [ "$NAP" != 0 ]; then sleep "$NAP"; fi',
                'if [ "$FAIL" = yes ]; then echo "build exploded on purpose" >&2; exit 3; fi',
                'echo done',
              ],
            },
          ],
        },
      ],
    },
  ];
  const file = join(dir, 'build.pkr.hcl');
  writeFileSync(file, toHcl(items));
  return file;
}

/** Runs the CLI in this process; returns exit code and captured output. */
export async function runMain(argv: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const stream = (append: (s: string) => void) => ({ isTTY: false, write: (s: string) => (append(s), true) }) as unknown as NodeJS.WriteStream;
  const code = await main({
    argv,
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdout: stream((s) => (stdout += s)),
    stderr: stream((s) => (stderr += s)),
  });
  return { code, stdout, stderr };
}
