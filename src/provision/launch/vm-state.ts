/**
 * What ingot remembers about a VM it launched: `<vms-dir>/NAME/vm.json`
 * (default vms dir: ./.ingot/vms), beside the VM's own files (user-data,
 * overlay, seed, data disks, sockets, console log for qemu). The record is
 * written before the VM starts and updated as the launch moves on, so
 * `ingot vm …` and `ingot launch --resume` find every VM, including one a
 * failed launch left behind. Written atomically, 0600: it names the
 * deploy-time parameters and --env values.
 */
import { readdir, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { ErrorCode, ExitCode, IngotError } from '../../errors.js';
import { writeFileAtomic } from '../../util/fs-atomic.js';
import type { LaunchSpec } from './backend.js';

/** Where a VM's launch stands. */
export type VmPhase = 'creating' | 'provisioning' | 'ready' | 'failed';

/** The record of one VM. */
export interface VmRecord {
  version: 1;
  name: string;
  backend: LaunchSpec['backend'];
  createdAt: string;
  spec: LaunchSpec;
  phase: VmPhase;
  /** qemu: what the VM was started with, reused by `vm start`. */
  qemu?: { accelerator: 'kvm' | 'tcg'; accelReason: string; sshPort: number };
  /** How it was provisioned, for `launch --resume`. */
  launch?: {
    profile?: string;
    profilesDir?: string;
    versionsFile?: string;
    set: string[];
    env: Record<string, string>;
    /** sha256 of the user-data the VM booted with. */
    userDataSha256: string;
    /** The --set user, for `vm ssh`. */
    user?: string;
    /** Set when the user-data came from --user-data FILE instead of the profile. */
    userDataFile?: string;
  };
  /** The last failure, when phase is failed. */
  error?: { code: string; message: string };
  updatedAt: string;
}

/** The VMs directory for `cwd` (or the given one). */
export function vmsDir(cwd: string, given?: string): string {
  return path.resolve(cwd, given ?? path.join('.ingot', 'vms'));
}

/** The record file of VM `name`. */
export function recordPath(dir: string, name: string): string {
  return path.join(dir, name, 'vm.json');
}

/** Reads VM `name`'s record, or undefined when there is none. */
export async function readRecord(dir: string, name: string): Promise<VmRecord | undefined> {
  let text: string;
  try {
    text = await readFile(recordPath(dir, name), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const record = JSON.parse(text) as VmRecord;
    if (record.version !== 1 || record.name !== name) throw new Error('not an ingot VM record');
    return record;
  } catch (error) {
    throw new IngotError(ErrorCode.vmState, `the record of VM ${name} is unreadable: ${(error as Error).message}`, {
      path: recordPath(dir, name),
      hint: `remove ${path.join(dir, name)} (and the VM it describes) by hand`,
    });
  }
}

/** Reads VM `name`'s record or fails with INGOT_VM_NOT_FOUND listing what exists. */
export async function requireRecord(dir: string, name: string): Promise<VmRecord> {
  const record = await readRecord(dir, name);
  if (record) return record;
  const known = (await listRecords(dir)).map((r) => r.name);
  throw new IngotError(ErrorCode.vmNotFound, `no VM named ${name} in ${dir}`, {
    path: dir,
    exitCode: ExitCode.usage,
    hint: known.length ? `known VMs: ${known.join(', ')}` : 'launch one with `ingot launch`, or pass --vms-dir',
  });
}

/** Writes `record` (atomically, 0600), stamping updatedAt. */
export async function writeRecord(dir: string, record: VmRecord): Promise<void> {
  record.updatedAt = new Date().toISOString();
  await writeFileAtomic(recordPath(dir, record.name), `${JSON.stringify(record, null, 2)}\n`, 0o600);
}

/** Every VM record under `dir`, by name. */
export async function listRecords(dir: string): Promise<VmRecord[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: VmRecord[] = [];
  for (const name of names.sort()) {
    const record = await readRecord(dir, name).catch(() => undefined);
    if (record) out.push(record);
  }
  return out;
}
