/** Runs the ingot CLI in-process with captured output (tests). */
import { main } from '../../src/cli/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function cli(argv: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (lines: string[]) => ({ write: (text: string) => lines.push(text) > 0, isTTY: false }) as unknown as NodeJS.WriteStream;
  const code = await main({ argv, env: { ...process.env, ...options.env }, cwd: options.cwd ?? process.cwd(), stdout: sink(out), stderr: sink(err) });
  return { code, stdout: out.join(''), stderr: err.join('') };
}
