/**
 * Canary rollouts. A channel entry may carry `rollout` (a share, 0–100 %,
 * signed with the rest of the channel file). A host decides by itself, with
 * no coordination and the same answer on every run: it hashes (host id,
 * family/channel, version) into [0, 100) and takes the new version when its
 * bucket is below the share, else it stays on the channel's previous entry.
 * Raising the share keeps every host that already had the new version (its
 * bucket does not change), and adds more.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { ErrorCode, ExitCode, IngotError, UsageError } from '../errors.js';

/** Where a host's stable id comes from when --host-id is not given. */
export const MACHINE_ID_FILE = '/etc/machine-id';

/** Parses "10%", "10", "12.5 %" into a share in [0, 100]. */
export function parseRollout(raw: string, flag = '--rollout'): number {
  const match = /^\s*(\d{1,3}(?:\.\d+)?)\s*%?\s*$/.exec(raw);
  const share = match ? Number(match[1]) : NaN;
  if (!Number.isFinite(share) || share < 0 || share > 100)
    throw new UsageError(`${flag} must be a share from 0% to 100%, got "${raw}"`, { hint: 'e.g. --rollout 10%' });
  return share;
}

/** The host's bucket in [0, 100) for one version of one channel (sha256, first 48 bits). */
export function rolloutBucket(hostId: string, family: string, channel: string, version: string): number {
  const digest = createHash('sha256').update(`${hostId}\n${family}/${channel}\n${version}`).digest();
  return (digest.readUIntBE(0, 6) / 2 ** 48) * 100;
}

/** Whether a host in `bucket` takes a version rolled out to `share` percent. */
export function takesNew(bucket: number, share: number | undefined): boolean {
  return share === undefined || share >= 100 || bucket < share;
}

/** The host id: --host-id, else /etc/machine-id; a clear error when neither is there. */
export async function readHostId(flag: string | undefined, file = MACHINE_ID_FILE): Promise<string> {
  if (flag !== undefined) {
    const id = flag.trim();
    if (id === '' || id.length > 256 || /[\x00-\x1f\x7f]/.test(id)) throw new UsageError('--host-id must be 1 to 256 printable characters');
    return id;
  }
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  const id = text?.trim();
  if (!id) {
    throw new IngotError(
      ErrorCode.usage,
      `this channel is rolled out to a share of hosts, and this host has no stable id: ${file} is ${text === undefined ? 'missing' : 'empty'}`,
      {
        hint: `pass --host-id ID (any stable, unique string: a hostname, an inventory id), or create ${file} (systemd-machine-id-setup)`,
        exitCode: ExitCode.usage,
        path: file,
      },
    );
  }
  return id;
}
