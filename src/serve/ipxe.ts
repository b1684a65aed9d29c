/**
 * The iPXE script of a boot set (pure): fetch the kernel and the initramfs
 * from the same server and boot them. URLs are relative to the script
 * ("../images/…" from /boot/<set>.ipxe), which iPXE resolves against the
 * script's own URL — so the script works whatever name or address the
 * firmware used to reach the server, and behind a reverse proxy's sub-path.
 * Keys are percent-encoded per segment, which also keeps iPXE's `${…}`
 * expansion and whitespace out of them. iPXE cannot check a sha256, so the
 * digests are written as comments for people; see docs/serve-and-mirror.md.
 */
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { keyToUrlPath } from './html.js';

/** What the script needs of a boot set. */
export interface IpxeBootSet {
  name: string;
  kernel: { key: string; version: string; sha256: string };
  initramfs: { key: string; version: string; sha256: string };
}

/** The name the initramfs gets inside iPXE (and on the kernel command line, for EFI stubs). */
const INITRD_NAME = 'initrd.img';

/** Checks operator-given kernel arguments: one line of printable text. */
export function checkBootArgs(args: string): string {
  if (/[\u0000-\u001f\u007f]/.test(args) || args.length > 2048) {
    throw new IngotError(ErrorCode.usage, 'boot arguments must be one line of printable text (at most 2048 characters)', { exitCode: ExitCode.usage });
  }
  return args.trim();
}

/** The script text. `bootArgs` is appended to the kernel command line as given (iPXE expands ${settings} in it). */
export function renderIpxeScript(set: IpxeBootSet, bootArgs = ''): string {
  const comment = (text: string) => `# ${text.replace(/[^\x20-\x7e]/g, '?')}`;
  const fromScript = (key: string) => `../${keyToUrlPath(key)}`;
  const args = [`initrd=${INITRD_NAME}`, checkBootArgs(bootArgs)].filter(Boolean).join(' ');
  return [
    '#!ipxe',
    comment(`ingot boot set ${set.name}`),
    comment(`kernel ${set.kernel.version} sha256:${set.kernel.sha256.replace(/^sha256:/, '')}`),
    comment(`initramfs ${set.initramfs.version} sha256:${set.initramfs.sha256.replace(/^sha256:/, '')}`),
    `echo ingot: booting ${set.name.replace(/[^A-Za-z0-9._-]/g, '_')}`,
    `kernel ${fromScript(set.kernel.key)} ${args}`,
    `initrd --name ${INITRD_NAME} ${fromScript(set.initramfs.key)}`,
    'boot',
    '',
  ].join('\n');
}
