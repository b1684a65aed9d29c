/**
 * Every command, lazily loaded: `ingot --help` imports nothing heavy, and a
 * command's dependencies load only when it runs. A new command is one file in
 * commands/ and one line here.
 */
import type { Command } from './command.js';

type Loader = () => Promise<{ command: Command }>;

export const commands: Record<string, { summary: string; load: Loader }> = {
  init: { summary: 'Write a starter images.yaml', load: () => import('./commands/init.js') },
  validate: { summary: 'Check a manifest (schema and rules; --remote HEADs the URLs)', load: () => import('./commands/validate.js') },
  schema: { summary: "Print the manifest's JSON Schema", load: () => import('./commands/schema.js') },
  sync: { summary: 'Acquire, verify and publish every image in the manifest', load: () => import('./commands/sync.js') },
  list: { summary: 'List what is in a store', load: () => import('./commands/list.js') },
  prune: { summary: 'Remove stored images that are not in the manifest', load: () => import('./commands/prune.js') },
  verify: { summary: 'Re-hash stored images against their metadata', load: () => import('./commands/verify.js') },
  'build initramfs': { summary: 'Build one reproducible initramfs image from the manifest into a directory', load: () => import('./commands/build-initramfs.js') },
  boot: { summary: 'Boot a kernel + initramfs under QEMU and watch the serial console', load: () => import('./commands/boot.js') },
  inspect: { summary: 'List an initramfs / cpio archive like cpio -itv', load: () => import('./commands/inspect.js') },
};
