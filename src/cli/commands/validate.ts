/** `ingot validate`: schema + rules, every problem at once; --remote HEADs each https URL. */
import * as path from 'node:path';
import { ExitCode } from '../../errors.js';
import { loadManifest } from '../../manifest/load.js';
import { renderProblems, type Problem } from '../../manifest/problems.js';
import { mapLimit } from '../../util/concurrency.js';
import { bool, type Command } from '../command.js';
import { existingManifestPath, manifestOption } from '../resolve.js';

export const command: Command = {
  name: 'validate',
  summary: 'Check a manifest: schema and rules, every problem at once with file:line:col',
  usage: 'validate [-m FILE] [--remote] [--json]',
  description: 'Exits 0 when the manifest is valid, 2 when it has problems; with --remote, 1 when a URL does not answer 2xx.',
  options: {
    ...manifestOption,
    remote: { type: 'boolean', description: 'Also send a HEAD to each https URL and report status and Content-Length' },
  },
  async run(args, ctx) {
    const file = existingManifestPath(args, ctx);
    const result = await loadManifest(file);
    const errors = result.problems.filter((p) => p.severity === 'error');
    const display = path.relative(ctx.cwd, file) || file;
    let remote: RemoteCheck[] = [];
    if (bool(args, 'remote') && result.manifest) {
      const { head } = await import('../../acquire/http-client.js');
      const urls = result.manifest.images.flatMap((i) => (typeof i.source.url === 'string' ? [{ image: i.name, url: i.source.url }] : []));
      remote = await mapLimit(urls, 8, async ({ image, url }) => {
        try {
          const r = await head(url, { retries: 1 }, ctx.signal);
          return { image, url, status: r.status, ...(r.size !== undefined ? { size: r.size } : {}), ok: r.status >= 200 && r.status < 300 };
        } catch (error) {
          return { image, url, ok: false, error: (error as Error).message };
        }
      });
    }
    ctx.out.result({ file: display, valid: errors.length === 0, problems: result.problems.map(problemJson), ...(remote.length ? { remote } : {}) }, () => {
      const lines = renderProblems(result.problems, result.text);
      for (const r of remote) {
        lines.push(
          r.ok
            ? `ok      ${r.image}: HTTP ${r.status}${r.size !== undefined ? `, ${r.size} bytes` : ''} ${r.url}`
            : `FAILED  ${r.image}: ${r.error ?? `HTTP ${r.status}`} ${r.url}`,
        );
      }
      lines.push(
        errors.length === 0
          ? `${display}: valid (${result.manifest?.images.length ?? 0} images)`
          : `${display}: ${errors.length} problem${errors.length === 1 ? '' : 's'}`,
      );
      return lines;
    });
    if (errors.length > 0) return ExitCode.usage;
    return remote.some((r) => !r.ok) ? ExitCode.failed : ExitCode.ok;
  },
};

interface RemoteCheck {
  image: string;
  url: string;
  ok: boolean;
  status?: number;
  size?: number;
  error?: string;
}

function problemJson(p: Problem) {
  return {
    code: p.code,
    severity: p.severity,
    message: p.message,
    ...(p.hint ? { hint: p.hint } : {}),
    file: p.file,
    line: p.line,
    column: p.column,
    ...(p.image ? { image: p.image } : {}),
    path: p.path,
  };
}
