/**
 * Looking inside a raw disk image without mounting it: debugfs (e2fsprogs)
 * reads the ext4 root filesystem directly from the file — no loop device,
 * no root, no qemu-nbd. A partitioned disk (a cloud image) is read at the
 * offset of its largest Linux partition (sfdisk --json).
 */
import { ErrorCode, IngotError } from '../errors.js';
import { run } from '../exec/run.js';

/** The debugfs device argument for the root filesystem in `raw` (with ?offset= for a partition). */
export async function rootFilesystem(raw: string, signal?: AbortSignal): Promise<string> {
  const direct = await run('debugfs', ['-R', 'stats', raw], { reject: false, timeoutMs: 60_000, signal });
  if (direct.exitCode === 0 && /Filesystem magic number/.test(direct.stdout)) return raw;
  const table = await run('sfdisk', ['--json', raw], { reject: false, timeoutMs: 30_000, signal });
  if (table.exitCode === 0) {
    const parsed = JSON.parse(table.stdout) as { partitiontable?: { sectorsize?: number; partitions?: { start: number; size: number; type: string }[] } };
    const sector = parsed.partitiontable?.sectorsize ?? 512;
    const linux = (parsed.partitiontable?.partitions ?? []).filter((p) =>
      /^(83|0FC63DAF-8483-4772-8E79-3D69D8477DE4|4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709)$/i.test(p.type),
    );
    const largest = linux.sort((a, b) => b.size - a.size)[0];
    if (largest) return `${raw}?offset=${largest.start * sector}`;
  }
  throw new IngotError(ErrorCode.bakeFailed, `no ext2/3/4 root filesystem found in ${raw}`, {
    path: raw,
    hint: 'bake supports images whose root filesystem is ext4 (bare or in a partition)',
  });
}

/** Runs one debugfs request against `fs`; returns its stdout. */
export async function debugfs(fs: string, request: string, signal?: AbortSignal): Promise<string> {
  const r = await run('debugfs', ['-R', request, fs], { reject: false, timeoutMs: 300_000, signal });
  return r.stdout;
}

/** Names in directory `dir` of `fs` (empty when it does not exist). */
export async function listDir(fs: string, dir: string, signal?: AbortSignal): Promise<string[]> {
  const out = await debugfs(fs, `ls -p ${dir}`, signal);
  // -p: /inode/mode/uid/gid/name/size/
  return out
    .split('\n')
    .map((l) => l.split('/')[5])
    .filter((n): n is string => n !== undefined && n !== '' && n !== '.' && n !== '..');
}

/** What must not be in a user-agnostic image, found offline; empty when clean. */
export async function leftovers(fs: string, opts: { builder: string; signal?: AbortSignal }): Promise<string[]> {
  const found: string[] = [];
  const passwd = await debugfs(fs, 'cat /etc/passwd', opts.signal);
  if (!passwd.includes('root:'))
    throw new IngotError(ErrorCode.bakeFailed, 'cannot read /etc/passwd from the baked image offline', {
      hint: 'debugfs (e2fsprogs) must be installed and the root filesystem ext4',
    });
  if (passwd.split('\n').some((l) => l.startsWith(`${opts.builder}:`))) found.push(`user ${opts.builder} in /etc/passwd`);
  const home = await listDir(fs, '/home', opts.signal);
  if (home.includes(opts.builder)) found.push(`/home/${opts.builder}`);
  for (const key of (await listDir(fs, '/etc/ssh', opts.signal)).filter((n) => n.startsWith('ssh_host_'))) found.push(`/etc/ssh/${key}`);
  for (const dir of ['/root/.ssh', ...home.map((h) => `/home/${h}/.ssh`)]) {
    for (const name of await listDir(fs, dir, opts.signal)) if (name.startsWith('authorized_keys')) found.push(`${dir}/${name}`);
  }
  const machineId = (await debugfs(fs, 'cat /etc/machine-id', opts.signal)).trim();
  if (machineId && machineId !== 'uninitialized') found.push(`/etc/machine-id holds ${machineId}`);
  for (const name of await listDir(fs, '/var/lib/cloud', opts.signal))
    if (name === 'instance' || name === 'instances') found.push(`/var/lib/cloud/${name} (cloud-init state)`);
  return found;
}
