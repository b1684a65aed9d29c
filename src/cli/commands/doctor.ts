/**
 * `ingot doctor`: which external tools are installed, what each is for, how
 * to get the missing ones — and which store sync/list/prune would use here,
 * and why (nothing is opened; a SOPS credentials file is decrypted to read
 * its bucket).
 */
import { asIngotError, ExitCode } from '../../errors.js';
import { run } from '../../exec/run.js';
import { MIN_MULTIPASS, parseMultipassVersion, versionAtLeast } from '../../provision/launch/multipass.js';
import { which } from '../../exec/which.js';
import { redactUrl } from '../../store/open.js';
import { mapLimit } from '../../util/concurrency.js';
import type { Command, CommandContext, ParsedArgs } from '../command.js';
import { chooseCommandStore, manifestOption, optionalManifest, storeOptions } from '../resolve.js';
import { renderTable } from '../table.js';

/** Every external program ingot can use, with what needs it and where it comes from. */
export const TOOLS = [
  { tool: 'xz', purpose: 'fast xz decompression (else WebAssembly, ~10× slower)', pkg: 'xz-utils', args: ['--version'] },
  { tool: 'zstd', purpose: 'fast zstd decompression (else pure JS)', pkg: 'zstd', args: ['--version'] },
  { tool: 'packer', purpose: 'source.type packer, ingot packer …', pkg: 'packer', args: ['version'] },
  { tool: 'qemu-system-x86_64', purpose: 'ingot boot, ingot launch --backend qemu', pkg: 'qemu-system-x86', args: ['--version'] },
  { tool: 'qemu-img', purpose: 'VM overlays for ingot launch', pkg: 'qemu-utils', args: ['--version'] },
  { tool: 'xorriso', purpose: 'ingot cloud-init seed (NoCloud ISO)', pkg: 'xorriso', args: ['-version'] },
  { tool: 'mkfs.ext4', purpose: 'ingot launch --disk NAME:SIZE (data disks)', pkg: 'e2fsprogs', args: ['-V'] },
  { tool: 'ssh', purpose: 'ingot vm ssh (qemu VMs)', pkg: 'openssh-client', args: ['-V'] },
  { tool: 'cloud-init', purpose: 'cloud-init schema checks in ingot cloud-init validate', pkg: 'cloud-init', args: ['--version'] },
  { tool: 'minisign', purpose: 'optional: verify ingot signatures with the reference tool', pkg: 'minisign', args: ['-v'] },
  { tool: 'cpio', purpose: 'optional: inspect initramfs archives with GNU cpio', pkg: 'cpio', args: ['--version'] },
  { tool: 'multipass', purpose: `ingot launch --backend multipass (>= ${MIN_MULTIPASS})`, pkg: 'snap install multipass', args: ['version'] },
] as const;

export const command: Command = {
  name: 'doctor',
  summary: 'Show which external tools are installed, what each is for, and how to install the missing ones; and which store would be used, and why',
  usage: 'doctor [-m FILE] [--store URL] [--credentials FILE --sops-age-key-file K] [--json]',
  description: [
    'The store line says which store sync, list and prune would use with the same flags and environment, and why:',
    '--store, spec.store.url, the bucket/endpoint in the S3 credentials, or the default .ingot/store.',
    'Exit 2 when that choice is an error (for example S3 credentials given with a local directory store).',
  ].join('\n'),
  options: { ...manifestOption, ...storeOptions },
  async run(args, ctx) {
    const store = await storeReport(args, ctx);
    const rows = await mapLimit(TOOLS, 4, async (t) => {
      const path = which(t.tool, ctx.env);
      if (!path) return { ...t, found: false as const };
      const r = await run(path, t.args, { timeoutMs: 5000, reject: false }).catch(() => undefined);
      const output = `${r?.stdout ?? ''}\n${r?.stderr ?? ''}`;
      const version =
        output
          .split('\n')
          .map((l) => l.trim())
          .find(Boolean) ?? '';
      // multipass older than 1.16 is refused at launch: say so here first.
      if (t.tool === 'multipass') {
        const v = parseMultipassVersion(output);
        const old = [v.client, v.daemon].find((x) => x && !versionAtLeast(x, MIN_MULTIPASS));
        if (old || !v.client)
          return {
            ...t,
            found: true as const,
            path,
            version,
            problem: old ? `too old: ${old}, need >= ${MIN_MULTIPASS} (snap refresh multipass)` : 'cannot tell its version (is multipassd running?)',
          };
      }
      return { ...t, found: true as const, path, version };
    });
    ctx.out.result({ node: process.version, store, tools: rows.map(({ args: _a, ...r }) => r) }, () => [
      `node ${process.version}`,
      'error' in store
        ? `store: cannot be chosen: ${store.error.message}${store.error.hint ? `\n  hint: ${store.error.hint}` : ''}`
        : `store: ${store.url} (${store.reason})`,
      renderTable(
        ['TOOL', 'STATUS', 'VERSION / INSTALL', 'USED FOR'],
        rows.map((r) => [
          r.tool,
          !r.found ? 'missing' : 'problem' in r && r.problem ? 'PROBLEM' : 'ok',
          !r.found ? `apt-get install ${r.pkg}`.replace('apt-get install snap', 'snap') : 'problem' in r && r.problem ? r.problem : r.version.slice(0, 40),
          r.purpose,
        ]),
      ),
    ]);
    return 'error' in store ? store.exitCode : ExitCode.ok;
  },
};

type StoreReport =
  | { url: string; origin: string; reason: string; warnings: string[] }
  | { error: { code: string; message: string; hint?: string }; exitCode: number };

/** The store choice with these flags, or the error that choosing it gives. */
async function storeReport(args: ParsedArgs, ctx: CommandContext): Promise<StoreReport> {
  try {
    const manifest = await optionalManifest(args, ctx);
    const choice = await chooseCommandStore(args, ctx, manifest);
    for (const warning of choice.warnings) ctx.log.warn(warning);
    return { url: redactUrl(choice.url), origin: choice.origin, reason: choice.reason, warnings: choice.warnings };
  } catch (thrown) {
    const error = asIngotError(thrown);
    return { error: { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) }, exitCode: error.exitCode };
  }
}
