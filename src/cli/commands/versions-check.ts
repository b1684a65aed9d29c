/** `ingot versions check`: downloads every pinned artifact and verifies its sha256. */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { ExitCode } from '../../errors.js';
import { defaultProfilesDir } from '../../provision/paths.js';
import { checkVersions, loadVersions } from '../../provision/versions.js';
import { str, type Command } from '../command.js';

export const command: Command = {
  name: 'versions check',
  summary: 'Download each pin in versions.yaml and verify its sha256',
  usage: 'versions check [NAME…] [--versions FILE]',
  description: 'Exit 0 when every digest matches, 1 when any download fails or differs, or a pin has no sha256 yet (UNPINNED).',
  positionals: true,
  options: {
    versions: { type: 'string', valueName: 'FILE', description: 'versions.yaml (default: ./versions.yaml, else PROFILES/versions.yaml)' },
  },
  async run(args, ctx) {
    const file = versionsFile(str(args, 'versions'), ctx.cwd);
    const versions = await loadVersions(file);
    const results = await checkVersions(versions, {
      names: args.positionals,
      signal: ctx.signal,
      http: { onRetry: (e) => ctx.log.warn(`retrying ${e.url}: ${e.reason}`, { attempt: e.attempt }) },
    });
    ctx.out.result(results, () =>
      results.map((r) =>
        r.status === 'ok'
          ? `ok        ${r.name}  sha256:${r.sha256}`
          : r.status === 'mismatch'
            ? `MISMATCH  ${r.name}  expected sha256:${r.expected}, got sha256:${r.actual}`
            : r.status === 'unpinned'
              ? `UNPINNED  ${r.name}  no sha256 recorded; the download has sha256:${r.actual} — check it against the publisher's checksums, then record it (ingot versions bump)`
              : `ERROR     ${r.name}  ${r.error}`,
      ),
    );
    return results.every((r) => r.status === 'ok') ? ExitCode.ok : ExitCode.failed;
  },
};

/** --versions, else ./versions.yaml, else the profiles dir's versions.yaml. */
export function versionsFile(given: string | undefined, cwd: string): string {
  if (given) return path.resolve(cwd, given);
  const local = path.join(cwd, 'versions.yaml');
  return existsSync(local) ? local : path.join(defaultProfilesDir(cwd), 'versions.yaml');
}
