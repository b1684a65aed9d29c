/** `ingot packer doctor`: packer, each cloud's CLI and credentials — what is missing and how to get it. */
import { ExitCode } from '../../errors.js';
import { formatDoctor, packerDoctor } from '../../packer/doctor.js';
import type { Command } from '../command.js';

export const command: Command = {
  name: 'packer doctor',
  summary: 'Check packer, the cloud CLIs (aws, az, gcloud, oci, aliyun) and credential environment',
  usage: 'packer doctor',
  description: 'Exit 1 when packer itself is missing; missing cloud CLIs or credentials are reported but do not fail.',
  options: {},
  async run(_args, ctx) {
    const report = await packerDoctor(ctx.env);
    ctx.out.result(report, () => formatDoctor(report));
    return report.packer.ok ? ExitCode.ok : ExitCode.failed;
  },
};
