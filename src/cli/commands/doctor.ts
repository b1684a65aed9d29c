/** `ingot doctor`: which external tools are installed, what each is for, how to get the missing ones. */
import { run } from '../../exec/run.js';
import { which } from '../../exec/which.js';
import { mapLimit } from '../../util/concurrency.js';
import type { Command } from '../command.js';
import { renderTable } from '../table.js';

/** Every external program ingot can use, with what needs it and where it comes from. */
export const TOOLS = [
  { tool: 'xz', purpose: 'fast xz decompression (else WebAssembly, ~10× slower)', pkg: 'xz-utils', args: ['--version'] },
  { tool: 'zstd', purpose: 'fast zstd decompression (else pure JS)', pkg: 'zstd', args: ['--version'] },
  { tool: 'packer', purpose: 'source.type packer, ingot packer …', pkg: 'packer', args: ['version'] },
  { tool: 'qemu-system-x86_64', purpose: 'ingot boot, ingot launch --backend qemu', pkg: 'qemu-system-x86', args: ['--version'] },
  { tool: 'qemu-img', purpose: 'VM overlays for ingot launch', pkg: 'qemu-utils', args: ['--version'] },
  { tool: 'xorriso', purpose: 'ingot cloud-init seed (NoCloud ISO)', pkg: 'xorriso', args: ['-version'] },
  { tool: 'cloud-init', purpose: 'cloud-init schema checks in ingot cloud-init validate', pkg: 'cloud-init', args: ['--version'] },
  { tool: 'minisign', purpose: 'optional: verify ingot signatures with the reference tool', pkg: 'minisign', args: ['-v'] },
  { tool: 'cpio', purpose: 'optional: inspect initramfs archives with GNU cpio', pkg: 'cpio', args: ['--version'] },
  { tool: 'multipass', purpose: 'ingot launch --backend multipass', pkg: 'snap install multipass', args: ['version'] },
] as const;

export const command: Command = {
  name: 'doctor',
  summary: 'Show which external tools are installed, what each is for, and how to install the missing ones',
  usage: 'doctor [--json]',
  options: {},
  async run(_args, ctx) {
    const rows = await mapLimit(TOOLS, 4, async (t) => {
      const path = which(t.tool, ctx.env);
      if (!path) return { ...t, found: false as const };
      const r = await run(path, t.args, { timeoutMs: 5000, reject: false }).catch(() => undefined);
      const version = `${r?.stdout ?? ''}\n${r?.stderr ?? ''}`.split('\n').map((l) => l.trim()).find(Boolean) ?? '';
      return { ...t, found: true as const, path, version };
    });
    ctx.out.result(
      { node: process.version, tools: rows.map(({ args: _a, ...r }) => r) },
      () => [
        `node ${process.version}`,
        renderTable(
          ['TOOL', 'STATUS', 'VERSION / INSTALL', 'USED FOR'],
          rows.map((r) => [r.tool, r.found ? 'ok' : 'missing', r.found ? r.version.slice(0, 40) : `apt-get install ${r.pkg}`.replace('apt-get install snap', 'snap'), r.purpose]),
        ),
      ],
    );
  },
};
