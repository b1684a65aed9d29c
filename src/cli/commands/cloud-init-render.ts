/** `ingot cloud-init render PROFILE`: composes a profile and writes #cloud-config user-data. */
import * as path from 'node:path';
import { ErrorCode, IngotError, UsageError } from '../../errors.js';
import { renderProblem } from '../../manifest/problems.js';
import { defaultProfilesDir } from '../../provision/paths.js';
import { renderProfile } from '../../provision/render-profile.js';
import { validateUserData } from '../../provision/validate.js';
import { list, str, type Command } from '../command.js';
import { writeFileAtomic } from '../../util/fs-atomic.js';

export const command: Command = {
  name: 'cloud-init render',
  summary: 'Compose a profile and write #cloud-config user-data',
  usage: 'cloud-init render PROFILE [--profiles-dir DIR] [--versions FILE] [--set key=value…] [--out FILE]',
  description: [
    'PROFILE is a name in --profiles-dir (default: ./profiles, else the shipped profiles) or a path to a .yaml file.',
    'Identity comes only from --set: hostname=, fqdn=, user=, ssh_key= (repeatable), groups=a,b.',
    'Example: ingot cloud-init render docker --set user=alice --set ssh_key="ssh-ed25519 AAAA… alice" --out user-data',
  ].join('\n'),
  positionals: true,
  options: {
    'profiles-dir': { type: 'string', valueName: 'DIR', description: 'Directory of profiles (default: ./profiles or the shipped ones)' },
    versions: { type: 'string', valueName: 'FILE', description: 'versions.yaml with pins (default: PROFILES-DIR/versions.yaml)' },
    set: { type: 'string', multiple: true, valueName: 'KEY=VALUE', description: 'Deploy-time parameter (identity)' },
    out: { type: 'string', short: 'o', valueName: 'FILE', description: 'Write here instead of stdout' },
  },
  async run(args, ctx) {
    const [profile, ...extra] = args.positionals;
    if (!profile || extra.length) throw new UsageError('expected exactly one PROFILE', { hint: 'ingot cloud-init render base --out user-data' });
    const profilesDir = path.resolve(ctx.cwd, str(args, 'profiles-dir') ?? defaultProfilesDir(ctx.cwd));
    const versions = str(args, 'versions');
    const { profile: resolved, rendered } = await renderProfile({
      profile: /[/\\]|\.ya?ml$/.test(profile) ? path.resolve(ctx.cwd, profile) : profile,
      profilesDir,
      ...(versions ? { versionsFile: path.resolve(ctx.cwd, versions) } : {}),
      set: list(args, 'set'),
    });
    const problems = validateUserData(rendered.text, 'rendered user-data');
    for (const p of problems.filter((x) => x.severity === 'warning')) ctx.log.warn(renderProblem(p, rendered.text));
    const errors = problems.filter((p) => p.severity === 'error');
    if (errors.length) {
      throw new IngotError(ErrorCode.userDataInvalid, `the rendered user-data is invalid:\n${errors.map((p) => renderProblem(p, rendered.text)).join('\n')}`, {
        hint: 'fix the cloud-config part of the profiles named above',
      });
    }
    const out = str(args, 'out');
    if (out) {
      const file = path.resolve(ctx.cwd, out);
      // Atomic (a kill never leaves half a user-data file) and private: user-data may carry secrets.
      await writeFileAtomic(file, rendered.text, 0o600);
      ctx.log.info(`wrote ${out}`, { profiles: resolved.files.map((f) => path.relative(profilesDir, f)).join(',') });
      ctx.out.result({ file, profile: resolved.name, files: resolved.files }, () => file);
    } else if (ctx.json) {
      ctx.out.result({ profile: resolved.name, files: resolved.files, userData: rendered.text }, () => rendered.text);
    } else {
      ctx.out.line(rendered.text.trimEnd());
    }
  },
};
