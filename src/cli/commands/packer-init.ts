/** `ingot packer init --cloud C [--config FILE] --out DIR`: one provider-neutral config → a packer template for one cloud. */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import { CLOUDS, EXAMPLE_CONFIG_YAML, loadPackerConfig, parsePackerConfig, type Cloud } from '../../packer/config.js';
import { compareVersions } from '../../packer/doctor.js';
import { packerVersion } from '../../packer/runner.js';
import { generateTemplate, PLUGINS_PACKER_VERSION, writeTemplateFiles, type CustomScript } from '../../packer/template.js';
import { which } from '../../exec/which.js';
import { bool, str, type Command, type CommandContext } from '../command.js';

/** Where the example config is written when --config is not given, so it can be edited and re-used. */
const EXAMPLE_NAME = 'ingot-packer.yaml';

export const command: Command = {
  name: 'packer init',
  summary: 'Generate a packer HCL2 template for one cloud from a provider-neutral config',
  usage: 'packer init --cloud aws|azure|gcp|oci|alibaba [--config FILE] --out DIR [--force] [--plugins]',
  description: [
    'Writes DIR/image.pkr.hcl and DIR/scripts/{init,install,hardening,cleanup}.sh.',
    `Without --config, the documented example config is used and also written to DIR/${EXAMPLE_NAME}`,
    `so you can edit it and run again with --config DIR/${EXAMPLE_NAME} --force.`,
    'Existing files are never overwritten without --force.',
  ].join('\n'),
  options: {
    cloud: { type: 'string', valueName: 'CLOUD', choices: CLOUDS, description: `Target cloud: ${CLOUDS.join(', ')}` },
    config: { type: 'string', valueName: 'FILE', description: 'Provider-neutral config (YAML); default: the example config' },
    out: { type: 'string', valueName: 'DIR', description: 'Directory to write the template into' },
    force: { type: 'boolean', description: 'Overwrite existing files' },
    plugins: { type: 'boolean', description: 'Add a required_plugins block for packer ≥ 1.7 (then run `packer init DIR`); packer 1.6 rejects it' },
  },
  async run(args, ctx) {
    const cloud = str(args, 'cloud');
    if (!cloud || !(CLOUDS as readonly string[]).includes(cloud)) {
      throw new UsageError(cloud ? `unknown cloud "${cloud}"` : 'missing --cloud', { hint: `use --cloud with one of ${CLOUDS.join(', ')}` });
    }
    const outArg = str(args, 'out');
    if (!outArg) throw new UsageError('missing --out DIR', { hint: 'for example --out packer/aws' });
    const out = path.resolve(ctx.cwd, outArg);
    const configArg = str(args, 'config');
    const configFile = configArg ? path.resolve(ctx.cwd, configArg) : undefined;
    const config = configFile ? await loadPackerConfig(configFile) : parsePackerConfig(EXAMPLE_CONFIG_YAML, 'example config');

    const scripts: CustomScript[] = [];
    for (const rel of config.build.scripts) {
      const file = path.resolve(configFile ? path.dirname(configFile) : ctx.cwd, rel);
      const name = path.basename(file).replace(/[^A-Za-z0-9._-]/g, '_');
      const content = await readFile(file, 'utf8').catch(() => {
        throw new UsageError(`cannot read provisioning script ${rel}`, { path: file, hint: 'build.scripts paths are relative to the config file' });
      });
      scripts.push({ name, content });
    }
    const plugins = bool(args, 'plugins');
    const files = generateTemplate(config, cloud as Cloud, { customScripts: scripts, configFile: configArg ?? 'example config', plugins });
    if (!configFile) files[EXAMPLE_NAME] = EXAMPLE_CONFIG_YAML;
    const written = await writeTemplateFiles(out, files, bool(args, 'force'));
    await warnAboutPlugins(plugins, ctx);
    ctx.out.result({ cloud, out, files: written.map((f) => path.relative(out, f)) }, () => [
      ...written.map((f) => `wrote ${path.relative(ctx.cwd, f) || f}`),
      ...(plugins ? [`next: packer init ${path.relative(ctx.cwd, out) || '.'} (installs the plugin)`] : []),
      `next: ingot packer validate ${path.relative(ctx.cwd, out) || '.'}`,
    ]);
  },
};

/** The installed packer decides whether the template needs required_plugins; say so when they disagree. */
async function warnAboutPlugins(plugins: boolean, ctx: CommandContext): Promise<void> {
  if (!which('packer', ctx.env)) return;
  const version = await packerVersion(ctx.env).catch(() => undefined);
  if (!version) return;
  const modern = compareVersions(version, PLUGINS_PACKER_VERSION) >= 0;
  if (modern && !plugins) ctx.log.warn(`packer ${version} installs builders as plugins: run again with --plugins --force, then \`packer init DIR\``);
  if (!modern && plugins) ctx.log.warn(`packer ${version} does not understand required_plugins: run again without --plugins --force, or upgrade packer`);
}
