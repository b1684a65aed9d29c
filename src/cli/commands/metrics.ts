/** `ingot metrics`: a host cache as Prometheus text exposition (stdout, or a textfile for node_exporter). */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import { cachePaths } from '../../cache/layout.js';
import { cacheMetrics, writeTextfile } from '../../fleet/metrics.js';
import { str, type Command, type CommandContext } from '../command.js';

export const command: Command = {
  name: 'metrics',
  summary: "Write a host cache's metrics in Prometheus' text format (for node_exporter's textfile collector)",
  usage: 'metrics --cache DIR [--textfile FILE]',
  description: [
    'Cached versions and the current one per family and boot set, boot outcomes by version and result,',
    'guest-init handshake latency, the last pull (time, result) and verification failures. With',
    '--textfile, the file is written atomically (a temporary name ending in .tmp in the same directory,',
    "then renamed), as the textfile collector needs: point FILE into node_exporter's",
    '--collector.textfile.directory and run this from cron or after each pull and boot.',
    'Metric reference: docs/fleet.md.',
  ].join('\n'),
  options: {
    cache: { type: 'string', valueName: 'DIR', description: 'Host cache directory' },
    textfile: { type: 'string', valueName: 'FILE', description: 'Write to FILE (e.g. /var/lib/prometheus/node-exporter/ingot.prom) instead of stdout' },
  },
  async run(args, ctx) {
    const dir = str(args, 'cache');
    if (!dir) throw new UsageError('--cache DIR is required');
    const cache = path.resolve(ctx.cwd, dir);
    const isDir = await fs.stat(cachePaths(cache).root).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!isDir) throw new UsageError(`no host cache at ${cache}`, { hint: 'pass the --cache DIR that `ingot pull --to DIR` fills' });
    const text = await cacheMetrics(cache);
    const textfile = str(args, 'textfile');
    if (textfile === undefined) {
      ctx.out.result({ cache, text }, () => text.trimEnd());
      return;
    }
    const file = path.resolve(ctx.cwd, textfile);
    await writeChecked(file, text, ctx);
    ctx.out.result({ cache, textfile: file, bytes: Buffer.byteLength(text) }, () => `wrote ${file}`);
  },
};

/** Writes the metrics of `cache` to a textfile (shared with `cache record-boot --textfile`). */
export async function exportTextfile(cache: string, file: string, ctx: CommandContext): Promise<void> {
  await writeChecked(file, await cacheMetrics(cache), ctx);
}

async function writeChecked(file: string, text: string, ctx: CommandContext): Promise<void> {
  if (!file.endsWith('.prom')) ctx.log.warn(`${file} does not end in .prom: node_exporter's textfile collector only reads *.prom files`);
  await writeTextfile(file, text).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot write --textfile ${file}: ${error.code ?? error.message}`, {
      hint: "the directory must exist and be writable (node_exporter's --collector.textfile.directory)",
    });
  });
}
