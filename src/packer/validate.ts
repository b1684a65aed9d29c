/**
 * `packer validate` with its diagnostics parsed into file/line records.
 * Packer prints HCL diagnostics as
 *
 *     Error: <summary>
 *
 *       on <file> line <n>[, in <context>]:
 *       (source code not available)
 *
 *     <detail>
 *
 * and builder configuration errors as "N error(s) occurred:" followed by
 * "* <message>" bullets; each bullet becomes its own diagnostic.
 */
import { run } from '../exec/run.js';
import { packerEnv, variableEnv } from './runner.js';

/** One problem packer reported. */
export interface PackerDiagnostic {
  severity: 'error' | 'warning';
  summary: string;
  detail?: string;
  file?: string;
  line?: number;
}

/** Result of `packer validate`. */
export interface PackerValidateResult {
  ok: boolean;
  diagnostics: PackerDiagnostic[];
  /** The raw output (scrubbed), for --debug. */
  output: string;
}

/** Options for validate. */
export interface PackerValidateOptions {
  syntaxOnly?: boolean;
  variables?: Readonly<Record<string, string>>;
  secrets?: readonly string[];
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/** Runs `packer validate [-syntax-only] .` in `dir`. */
export async function runPackerValidate(dir: string, options: PackerValidateOptions = {}): Promise<PackerValidateResult> {
  const args = ['validate', ...(options.syntaxOnly ? ['-syntax-only'] : []), '.'];
  const result = await run('packer', args, {
    cwd: dir,
    env: { ...packerEnv(options.env), ...variableEnv(options.variables) },
    secrets: options.secrets ?? [],
    signal: options.signal,
    timeoutMs: 120_000,
    reject: false,
  });
  const output = `${result.stdout}${result.stderr ? `\n${result.stderr}` : ''}`.trim();
  const diagnostics = parseDiagnostics(output);
  const ok = result.exitCode === 0;
  if (!ok && !diagnostics.some((d) => d.severity === 'error')) {
    diagnostics.push({
      severity: 'error',
      summary: output.split('\n').find((l) => l.trim()) ?? `packer validate failed with exit code ${result.exitCode}`,
      detail: output,
    });
  }
  return { ok, diagnostics, output };
}

const HEAD = /^(Error|Warning): (.*)$/;
const LOCATION = /^\s+on (.+?) line (\d+)(?:, in [^:]*)?:$/;

/** Parses packer's human-readable diagnostics (see the module comment). */
export function parseDiagnostics(output: string): PackerDiagnostic[] {
  const lines = output.replace(/\r\n/g, '\n').split('\n');
  const blocks: string[][] = [];
  for (const line of lines) {
    if (HEAD.test(line)) blocks.push([line]);
    else blocks[blocks.length - 1]?.push(line);
  }
  const out: PackerDiagnostic[] = [];
  for (const block of blocks) {
    const [, kind, summary] = HEAD.exec(block[0]!)!;
    const severity = kind === 'Warning' ? 'warning' : 'error';
    let file: string | undefined;
    let line: number | undefined;
    const rest: string[] = [];
    for (const text of block.slice(1)) {
      const at = LOCATION.exec(text);
      if (at && file === undefined) {
        file = at[1];
        line = Number(at[2]);
      } else if (text.trim() !== '(source code not available)') {
        rest.push(text);
      }
    }
    const where = { ...(file !== undefined ? { file } : {}), ...(line !== undefined ? { line } : {}) };
    const bullets = rest.map((t) => /^\* (.*)$/.exec(t)?.[1]).filter((b): b is string => b !== undefined);
    if (/^\d+ error\(s\) occurred:$/.test(summary!.trim()) && bullets.length > 0) {
      for (const bullet of bullets) out.push({ severity, summary: bullet, ...where });
      continue;
    }
    const detail = rest.join('\n').trim();
    out.push({ severity, summary: summary!.trim(), ...(detail ? { detail } : {}), ...where });
  }
  return out;
}

/** "file:line: error: summary" plus indented detail, for terminal output. */
export function formatDiagnostic(d: PackerDiagnostic, dir?: string): string {
  const where = d.file ? `${dir && !d.file.startsWith('/') ? `${dir.replace(/\/$/, '')}/` : ''}${d.file}${d.line ? `:${d.line}` : ''}: ` : '';
  const head = `${where}${d.severity}: ${d.summary}`;
  return d.detail
    ? `${head}\n${d.detail
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n')}`
    : head;
}
