/** `ingot versions bump NAME VERSION [--url U]`: fetch, hash and rewrite one pin in place. */
import { UsageError } from '../../errors.js';
import { bumpVersion } from '../../provision/versions.js';
import { str, type Command } from '../command.js';
import { versionsFile } from './versions-check.js';

export const command: Command = {
  name: 'versions bump',
  summary: 'Move a pin to a new version: download it, compute sha256, rewrite versions.yaml keeping comments',
  usage: 'versions bump NAME VERSION [--url URL] [--versions FILE]',
  description: 'Without --url the old URL is reused with the old version string replaced by the new one.',
  positionals: true,
  options: {
    url: { type: 'string', valueName: 'URL', description: 'https URL of the new artifact' },
    versions: { type: 'string', valueName: 'FILE', description: 'versions.yaml (default: ./versions.yaml, else PROFILES/versions.yaml)' },
  },
  async run(args, ctx) {
    const [name, version, ...extra] = args.positionals;
    if (!name || !version || extra.length) throw new UsageError('expected NAME and VERSION', { hint: 'ingot versions bump nerdctl-full 1.7.7' });
    const file = versionsFile(str(args, 'versions'), ctx.cwd);
    const url = str(args, 'url');
    const result = await bumpVersion(file, name, version, {
      ...(url ? { url } : {}),
      signal: ctx.signal,
      http: { onRetry: (e) => ctx.log.warn(`retrying ${e.url}: ${e.reason}`, { attempt: e.attempt }) },
    });
    ctx.out.result({ file, ...result }, () => [
      `${name}: ${result.from.version} → ${result.to.version}`,
      `  url     ${result.to.url}`,
      `  sha256  ${result.to.sha256} (${result.to.size} bytes)`,
    ]);
  },
};
