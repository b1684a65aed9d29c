/**
 * Boot sets through channels. `boot/<set>.json` is rewritten by every sync,
 * so a channel cannot point at it: `channel set --boot-set` pins the current
 * verified boot manifest as an immutable signed copy at
 * `boot/<set>/<sha256 of its bytes>.json` and points the channel there
 * (channels/boot-sets/<set>.json, a channel file of kind "boot-set"). The
 * pointer's version is the kernel label (`<kernel.version>-<kernel.build_id>`,
 * what hosts report and the metrics carry), its checksum the sha256 of the
 * pinned bytes, which a host checks besides the signature.
 */
import { createHash } from 'node:crypto';
import { formatDigest } from '../digest/digest.js';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { parseBootManifest, type BootManifest } from '../initramfs/boot-manifest.js';
import type { ImageStore } from '../store/image-store.js';
import { BOOT_PREFIX } from '../store/layout.js';
import { applySet, checkName, readChannelFile, writeChannelFile, type ChannelChangeOptions, type ChannelFile, type ChannelPointer } from './channels.js';
import type { SecretKey } from './keys.js';
import type { PublicKey } from './minisign-format.js';
import { getVerified, putSigned } from './signed-object.js';

/** The current boot manifest's key. */
export function bootManifestKey(set: string): string {
  return `${BOOT_PREFIX}${set}.json`;
}

/** The key of a pinned (immutable) copy of a boot manifest. */
export function pinnedManifestKey(set: string, bytes: Buffer): string {
  return `${BOOT_PREFIX}${set}/${sha256hex(bytes)}.json`;
}

/** "6.12.1-20260101a": the version a boot set's channel entry carries (as cache/boot-pairs.ts kernelLabel). */
export function manifestLabel(manifest: BootManifest): string {
  return `${manifest.kernel.version}-${manifest.kernel.build_id}`;
}

/**
 * `ingot channel set --boot-set SET CHANNEL [VERSION]`: pins the current boot
 * manifest and points the channel at it. VERSION, when given, is that
 * manifest's kernel label, or the version of an earlier entry of this channel
 * file (re-pointing at the copy pinned then).
 */
export async function setBootSetChannel(
  store: ImageStore,
  key: SecretKey,
  options: Omit<ChannelChangeOptions, 'kind'> & { version?: string; rollout?: number },
): Promise<{ file: ChannelFile; pinned: boolean }> {
  const set = checkName('boot set', options.family);
  checkName('channel', options.channel);
  const existing = await readChannelFile(store, set, key.publicKey, options.signal, 'boot-set');
  const now = options.now ?? new Date();
  const manifestKey = bootManifestKey(set);
  const object = await getVerified(store.backend, manifestKey, key.publicKey, { signal: options.signal });
  const where = `${store.displayUrl.replace(/\/$/, '')}/${manifestKey}`;
  const manifest = object ? parseBootManifest(object.bytes, where) : undefined;
  const label = manifest ? manifestLabel(manifest) : undefined;
  let target: Pick<ChannelPointer, 'version' | 'path' | 'checksum'>;
  let pinned = false;
  if (options.version === undefined || options.version === label) {
    if (!object || !label) {
      throw new IngotError(ErrorCode.notInIndex, `no boot set "${set}" in ${store.displayUrl}`, {
        hint: 'sync a manifest with spec.bootSets and a signing key first',
        exitCode: ExitCode.usage,
      });
    }
    const pinKey = pinnedManifestKey(set, object.bytes);
    // Immutable: a copy already there (verified, same bytes) is kept as it is.
    const there = await getVerified(store.backend, pinKey, key.publicKey, { signal: options.signal }).catch(() => undefined);
    if (!there?.bytes.equals(object.bytes)) {
      await putSigned(store.backend, pinKey, object.bytes, key, { now, signal: options.signal });
      pinned = true;
    }
    target = { version: label, path: pinKey, checksum: formatDigest('sha256', sha256hex(object.bytes)) };
  } else {
    const earlier = [...(existing?.history ?? [])].reverse().find((h) => h.version === options.version);
    if (!earlier) {
      const known = [...new Set([label, ...(existing?.history ?? []).map((h) => h.version)].filter(Boolean))].join(', ') || 'none';
      throw new IngotError(
        ErrorCode.notInIndex,
        `boot set "${set}" has no version "${options.version}": the current boot manifest is ${label ?? 'missing'}, and no earlier channel entry has it`,
        {
          hint: `versions known for "${set}": ${known}`,
          exitCode: ExitCode.usage,
        },
      );
    }
    target = { version: earlier.version, path: earlier.path, checksum: earlier.checksum };
  }
  const next = applySet(existing, set, options.channel, target, now, options.rollout, 'boot-set');
  await writeChannelFile(store, key, next, options);
  return { file: next, pinned };
}

/**
 * A host's read of the manifest a boot-set channel entry names: verified, and
 * its bytes must be the ones the (signed) pointer names.
 */
export async function readPinnedManifest(
  store: ImageStore,
  set: string,
  pointer: ChannelPointer,
  publicKey: PublicKey,
  signal?: AbortSignal,
): Promise<{ manifest: BootManifest; bytes: Buffer }> {
  const where = `${store.displayUrl.replace(/\/$/, '')}/${pointer.path}`;
  if (!pointer.path.startsWith(`${BOOT_PREFIX}${set}/`) || !pointer.path.endsWith('.json')) {
    throw new IngotError(
      ErrorCode.channelInvalid,
      `the channel entry of boot set "${set}" points at ${pointer.path}, not at a pinned boot manifest of that set`,
      {
        hint: 'move the channel again with `ingot channel set --boot-set`',
      },
    );
  }
  const object = await getVerified(store.backend, pointer.path, publicKey, { signal });
  if (!object) {
    throw new IngotError(ErrorCode.notInIndex, `the pinned boot manifest ${where} is missing`, {
      hint: 'the store lost it (pruned or not mirrored); point the channel again with `ingot channel set --boot-set`',
      url: where,
    });
  }
  const actual = formatDigest('sha256', sha256hex(object.bytes));
  if (actual !== pointer.checksum) {
    throw new IngotError(ErrorCode.digestMismatch, `the pinned boot manifest ${where} is not the one its channel names`, {
      hint: 'its bytes differ from the checksum in the signed channel file; nothing was downloaded or switched. Point the channel again with `ingot channel set --boot-set`',
      url: where,
      expected: pointer.checksum,
      actual,
    });
  }
  const manifest = parseBootManifest(object.bytes, where);
  if (manifestLabel(manifest) !== pointer.version) {
    throw new IngotError(
      ErrorCode.channelInvalid,
      `the pinned boot manifest ${where} is kernel ${manifestLabel(manifest)}, its channel entry says ${pointer.version}`,
      {
        hint: 'move the channel again with `ingot channel set --boot-set`',
      },
    );
  }
  return { manifest, bytes: object.bytes };
}

function sha256hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
