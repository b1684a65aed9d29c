/** `ingot fleet status`: version distribution and boot success by version, from Prometheus. */
import { UsageError } from '../../errors.js';
import { prometheusClient } from '../../fleet/prometheus.js';
import { fleetStatus } from '../../fleet/status.js';
import { checkName } from '../../trust/channels.js';
import { str, type Command } from '../command.js';
import { parseDuration } from '../resolve.js';
import { renderTable } from '../table.js';

export const command: Command = {
  name: 'fleet status',
  summary: 'Version distribution and boot success rate by version, per family, boot set and channel (from Prometheus)',
  usage: 'fleet status --prometheus URL [--family F | --boot-set NAME] [--window 1h] [--json]',
  description: [
    'Hosts per version (what each host cache points at, and the channel it follows), then boots by',
    "version in the window: ok, fail, timeout and the success rate. The numbers come from the hosts'",
    '`ingot metrics` textfiles, scraped by Prometheus through node_exporter. The PromQL is shown with --debug.',
  ].join('\n'),
  options: {
    prometheus: { type: 'string', valueName: 'URL', description: 'Prometheus server, e.g. http://prometheus:9090' },
    family: { type: 'string', valueName: 'F', description: 'Only this family' },
    'boot-set': { type: 'string', valueName: 'NAME', description: 'Only this boot set' },
    window: { type: 'string', valueName: 'DURATION', description: 'How far back boots count (default: 1h)' },
  },
  async run(args, ctx) {
    const url = str(args, 'prometheus');
    if (!url) throw new UsageError('--prometheus URL is required');
    const family = str(args, 'family');
    const set = str(args, 'boot-set');
    if (family !== undefined && set !== undefined) throw new UsageError('give --family or --boot-set, not both');
    const windowRaw = str(args, 'window');
    const windowMs = windowRaw === undefined ? 3_600_000 : parseDuration(windowRaw, '--window');
    const filter =
      family !== undefined ? { kind: 'family' as const, name: checkName('family', family) } : set !== undefined ? { kind: 'boot_set' as const, name: set } : {};
    const status = await fleetStatus(prometheusClient(url, { log: ctx.log }), { windowMs, filter, signal: ctx.signal });
    for (const q of status.queries) ctx.log.debug(`PromQL: ${q}`);
    ctx.out.result(status, () => {
      const what = (kind: string, name: string) => (kind === 'boot_set' ? `boot set ${name}` : name);
      const lines = [`From ${status.source} at ${status.at}`, '', 'Version distribution'];
      lines.push(
        ...(status.versions.length
          ? renderTable(
              ['FAMILY/BOOT SET', 'CHANNEL', 'VERSION', 'HOSTS'],
              status.versions.map((v) => [what(v.kind, v.name), v.channel || '-', v.version, String(v.hosts)]),
            ).split('\n')
          : ['  no host reports a current version']),
      );
      lines.push('', `Boots in the last ${status.window}`);
      lines.push(
        ...(status.boots.length
          ? renderTable(
              ['FAMILY/BOOT SET', 'VERSION', 'OK', 'FAIL', 'TIMEOUT', 'SUCCESS'],
              status.boots.map((b) => [
                what(b.kind, b.name),
                b.version,
                String(b.ok),
                String(b.fail),
                String(b.timeout),
                b.successRate === null ? '-' : `${(b.successRate * 100).toFixed(1)} %`,
              ]),
            ).split('\n')
          : ['  no boots recorded']),
      );
      return lines;
    });
  },
};
