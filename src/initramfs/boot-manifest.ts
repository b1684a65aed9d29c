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
    if (!/^[0-9a-f]{64}$/.test(bare))
      problems.push(`${where} must be a sha256 digest (64 hex digits, optionally "sha256:"-prefixed), got ${JSON.stringify(value)}`);
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
  for (const [i, p] of supported.entries()) protocol(p, `compatibility.supportedProtocols[${i}]`);
  if (supported.length > 0 && Number.isInteger(initramfs.guestInitProtocol) && !supported.includes(initramfs.guestInitProtocol)) {
    problems.push(
      `the initramfs speaks guest-init protocol ${initramfs.guestInitProtocol}, which compatibility.supportedProtocols (${supported.join(', ')}) does not list`,
    );
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

/**
 * Reads a published boot manifest (after its signature was checked) with the
 * same rules as `buildBootManifest`. Throws INGOT_BOOT_MANIFEST_INVALID (exit 1:
 * the publisher's document is broken, not the host's input).
 */
export function parseBootManifest(bytes: Uint8Array, where: string): BootManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw malformed(where, `not JSON (${(error as Error).message})`);
  }
  const object = (value: unknown): Record<string, unknown> =>
    typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  const d = object(doc);
  if (d.schema_version !== 1) throw malformed(where, `schema_version is ${JSON.stringify(d.schema_version)}, expected 1`);
  const k = object(d.kernel);
  const i = object(d.initramfs);
  const c = object(d.compatibility);
  try {
    return buildBootManifest({
      ...(d.name !== undefined ? { name: d.name as string } : {}),
      kernel: { version: k.version as string, buildId: k.build_id as string, sha256: k.sha256 as string, configSha256: k.config_sha256 as string },
      initramfs: {
        guestInitVersion: i.guest_init_version as string,
        guestInitProtocol: i.guest_init_protocol as number,
        buildId: i.build_id as string,
        sha256: i.sha256 as string,
        sizeBytes: i.size_bytes as number,
      },
      compatibility: {
        minAgentVersion: c.min_agent_version as string,
        ...(c.max_agent_version !== undefined ? { maxAgentVersion: c.max_agent_version as string } : {}),
        supportedProtocols: Array.isArray(c.supported_protocols) ? (c.supported_protocols as number[]) : [],
      },
    });
  } catch (error) {
    if (!(error instanceof IngotError)) throw error;
    throw malformed(where, ((error.details?.problems as string[] | undefined) ?? [error.message]).join('; '));
  }
}

function malformed(where: string, problem: string): IngotError {
  return new IngotError(ErrorCode.bootManifestInvalid, `the signed boot manifest ${where} is malformed: ${problem}`, {
    hint: 'the publisher must fix the boot set and sync again; nothing was changed on this host',
  });
}
