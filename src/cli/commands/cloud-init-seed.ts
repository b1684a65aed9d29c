/** `ingot cloud-init seed`: a reproducible NoCloud seed ISO (label cidata). */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import { buildSeed } from '../../provision/seed.js';
import { str, type Command } from '../command.js';

export const command: Command = {
  name: 'cloud-init seed',
  summary: 'Build a NoCloud seed ISO (cidata) from user-data, byte-identical for identical inputs',
  usage: 'cloud-init seed --user-data FILE [--meta-data FILE] [--network-config FILE] --out seed.iso',
  description: 'Without meta-data (or without an instance-id in it) the instance-id is derived from the content.',
  options: {
    'user-data': { type: 'string', valueName: 'FILE', description: '#cloud-config user-data (required)' },
    'meta-data': { type: 'string', valueName: 'FILE', description: 'meta-data YAML (instance-id generated when absent)' },
    'network-config': { type: 'string', valueName: 'FILE', description: 'network-config (v1 or v2)' },
    out: { type: 'string', short: 'o', valueName: 'FILE', description: 'Output ISO (required)' },
  },
  async run(args, ctx) {
    const userData = str(args, 'user-data');
    const out = str(args, 'out');
    if (!userData || !out) throw new UsageError('--user-data and --out are required', { hint: 'ingot cloud-init seed --user-data user-data --out seed.iso' });
    const read = async (option: string) => {
      const file = str(args, option);
      if (!file) return undefined;
      try {
        return await readFile(path.resolve(ctx.cwd, file));
      } catch {
        throw new UsageError(`cannot read --${option} ${file}`);
      }
    };
    const metaData = await read('meta-data');
    const networkConfig = await read('network-config');
    const file = path.resolve(ctx.cwd, out);
    const result = await buildSeed(
      { userData: (await read('user-data'))!, ...(metaData ? { metaData } : {}), ...(networkConfig ? { networkConfig } : {}) },
      file,
      { signal: ctx.signal },
    );
    ctx.out.result({ file, ...result }, () => `${result.sha256}  ${out} (instance-id ${result.instanceId})`);
  },
};
