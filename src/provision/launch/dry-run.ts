/**
 * --dry-run: an Instance that prints what would run in the guest and runs
 * nothing. Every answer it gives is "nothing ran" — an exit code of 0 with no
 * output — so callers must not report outcomes for a dry instance
 * (`info.dryRun` says which it is).
 */
import { shellLine } from '../shell.js';
import type { Instance, LaunchSpec } from './backend.js';

/** An Instance for --dry-run; `prefix` tells how commands reach the guest. */
export function dryInstance(
  name: string,
  backend: LaunchSpec['backend'],
  print: (line: string) => void,
  info: Record<string, unknown> = {},
  prefix = 'guest-exec: ',
): Instance {
  return {
    name,
    backend,
    info: { ...info, dryRun: true },
    async exec(argv) {
      print(`${prefix}${shellLine(argv)}`);
      return { exitCode: 0, stdout: '', stderr: '', timedOut: false };
    },
    async readFile(file) {
      print(`guest-file-read: ${file}`);
      return Buffer.alloc(0);
    },
    async putArchive(tarFile, dest) {
      if (backend === 'multipass') print(`multipass transfer ${tarFile} ${name}:/tmp/ingot-transfer-….tar`);
      else print(`guest-file-write: ${tarFile} -> /tmp/ingot-transfer-….tar`);
      print(`${prefix}tar -x --no-same-owner --no-overwrite-dir -f /tmp/ingot-transfer-….tar -C ${dest}`);
    },
    async reboot() {
      print(`${prefix}systemctl reboot   # then wait for a new boot id`);
    },
    async stop() {
      print(`stop ${name}`);
    },
    async destroy() {
      print(`delete ${name}`);
    },
    release() {},
  };
}
