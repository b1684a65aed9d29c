/**
 * The boot manifest of a boot set: which kernel pairs with which initramfs,
 * their digests, and the compatibility facts a host agent enforces before it
 * boots them (guest-init protocol, agent versions). The fields and their
 * snake_case names follow the guest-init delivery spec; the signature is not
 * part of the object — the bytes from `bootManifestBytes` are signed
 * detached, like every other published file.
 */
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import type { ImageMetadata } from '../store/metadata.js';

/** Facts about the kernel image. `sha256` may be "sha256:<hex>" or bare hex. */
export interface KernelFacts {
  version: string;
  buildId: string;
  sha256: string;
  /** Digest of the kernel's .config. */
  configSha256: string;
}

/** Facts about the initramfs image. */
export interface InitramfsFacts {
  guestInitVersion: string;
  guestInitProtocol: number;
  buildId: string;
  sha256: string;
  sizeBytes: number;
}

/** What the pair is compatible with. */
export interface CompatibilityFacts {
  minAgentVersion: string;
  maxAgentVersion?: string;
  supportedProtocols: number[];
}

/** The published JSON document. */
export interface BootManifest {
  schema_version: 1;
  name?: string;
  kernel: { version: string; build_id: string; sha256: string; config_sha256: string };
  initramfs: { guest_init_version: string; guest_init_protocol: number; build_id: string; sha256: string; size_bytes: number };
  compatibility: { min_agent_version: string; max_agent_version?: string; supported_protocols: number[] };
}

export interface BootManifestInput {
  /** Name of the boot set. */
  name?: string;
  kernel: KernelFacts;
  initramfs: InitramfsFacts;
  compatibility: CompatibilityFacts;
}

/** Builds and checks the boot manifest. Throws INGOT_BOOT_MANIFEST_INVALID listing every problem. */
export function buildBootManifest(input: BootManifestInput): BootManifest {
  const problems: string[] = [];
  const text = (value: string, where: string) => {
    if (typeof value !== 'string' || value.trim() === '') problems.push(`${where} must be a non-empty string`);
    return value;
  };
  const hex = (value: string, where: string): string => {
    const bare = typeof value === 'string' ? value.replace(/^sha256:/i, '').toLowerCase() : '';
    if (!/^[0-9a-f]{64}$/.test(bare)) problems.push(`${where} must be a sha256 digest (64 hex digits, optionally "sha256:"-prefixed), got ${JSON.stringify(value)}`);
    return bare;
  };
  const protocol = (value: number, where: string) => {
    if (!Number.isInteger(value) || value < 1) problems.push(`${where} must be a positive integer, got ${JSON.stringify(value)}`);
    return value;
  };

  const { kernel, initramfs, compatibility } = input;
  const out: BootManifest = {
    schema_version: 1,
    ...(input.name !== undefined ? { name: text(input.name, 'name') } : {}),
    kernel: {
      version: text(kernel.version, 'kernel.version'),
      build_id: text(kernel.buildId, 'kernel.buildId'),
      sha256: hex(kernel.sha256, 'kernel.sha256'),
      config_sha256: hex(kernel.configSha256, 'kernel.configSha256'),
    },
    initramfs: {
      guest_init_version: text(initramfs.guestInitVersion, 'initramfs.guestInitVersion'),
      guest_init_protocol: protocol(initramfs.guestInitProtocol, 'initramfs.guestInitProtocol'),
      build_id: text(initramfs.buildId, 'initramfs.buildId'),
      sha256: hex(initramfs.sha256, 'initramfs.sha256'),
      size_bytes: initramfs.sizeBytes,
    },
    compatibility: {
      min_agent_version: text(compatibility.minAgentVersion, 'compatibility.minAgentVersion'),
      ...(compatibility.maxAgentVersion !== undefined ? { max_agent_version: text(compatibility.maxAgentVersion, 'compatibility.maxAgentVersion') } : {}),
      supported_protocols: [...new Set(compatibility.supportedProtocols ?? [])].sort((a, b) => a - b),
    },
  };
  if (!Number.isSafeInteger(initramfs.sizeBytes) || initramfs.sizeBytes <= 0) {
    problems.push(`initramfs.sizeBytes must be a positive integer, got ${JSON.stringify(initramfs.sizeBytes)}`);
  }
  const supported = out.compatibility.supported_protocols;
  if (supported.length === 0) problems.push('compatibility.supportedProtocols must list at least one protocol');
  supported.forEach((p, i) => protocol(p, `compatibility.supportedProtocols[${i}]`));
  if (supported.length > 0 && Number.isInteger(initramfs.guestInitProtocol) && !supported.includes(initramfs.guestInitProtocol)) {
    problems.push(`the initramfs speaks guest-init protocol ${initramfs.guestInitProtocol}, which compatibility.supportedProtocols (${supported.join(', ')}) does not list`);
  }
  if (problems.length > 0) {
    throw new IngotError(ErrorCode.bootManifestInvalid, `invalid boot set${input.name ? ` "${input.name}"` : ''}: ${problems.join('; ')}`, {
      exitCode: ExitCode.usage,
      hint: 'fix the boot set in the manifest (kernel and initramfs facts, compatibility)',
      details: { problems },
    });
  }
  return out;
}

/** The exact bytes to publish and sign: fixed key order, 2-space indent, trailing newline. */
export function bootManifestBytes(manifest: BootManifest): Buffer {
  return Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8');
}

/** Initramfs facts from stored metadata (sha256, size) and the build facts recorded by the initramfs source. */
export function initramfsFactsFromMetadata(meta: ImageMetadata, guestInitProtocol: number): InitramfsFacts {
  const source = meta.source as { version?: unknown; buildId?: unknown };
  return {
    guestInitVersion: String(source.version ?? meta.version ?? ''),
    guestInitProtocol,
    buildId: String(source.buildId ?? ''),
    sha256: meta.sha256,
    sizeBytes: meta.size,
  };
}
