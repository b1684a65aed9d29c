/** The manifest after schema, normalisation and rules: what the rest of ingot uses. */
import type { BaseSource, SourceDriver } from '../acquire/source.js';
import type { Algorithm, Digest } from '../digest/digest.js';
import type { SafePath } from '../store/keys.js';

export interface Image {
  name: string;
  family?: string;
  version?: string;
  /** The source as written (type canonicalised, e.g. http → https). */
  source: BaseSource & Record<string, unknown>;
  driver: SourceDriver<BaseSource>;
  /** destination.path */
  path: SafePath;
  /** Store key of the bytes: destinationPrefix + path. */
  key: string;
  algorithm: Algorithm;
  /** Digest the stored bytes must have; undefined for builds (decided by fingerprint). */
  expected?: Digest;
  /** Digest the source bytes must have (before decompression). */
  sourceChecksum?: Digest;
  maxDecompressedSize: number;
  compatibility?: Record<string, unknown>;
  /** 1-based line of the image in the manifest, for messages. */
  line: number;
}

export interface Manifest {
  file: string;
  dir: string;
  /** The form it was written in (native, or the labctl-compatible one). */
  apiVersion: string;
  /** Absolute directory relative source paths resolve against (spec.root, resolved). */
  root: string;
  /** How `root` was chosen, for messages. */
  rootHow: string;
  name: string;
  storeUrl?: string;
  destinationPrefix: string;
  /** spec.signing, with the key path resolved against the manifest's directory. */
  signing?: { keyFile?: string; expires?: string };
  images: Image[];
  /** spec.bootSets as written (image references checked by the rules). */
  bootSets: BootSet[];
}

export interface BootSet {
  name: string;
  kernel: { image: string; version: string; buildId: string; configSha256: string };
  initramfs: { image: string; guestInitProtocol: number; guestInitVersion?: string; buildId?: string };
  compatibility: { minAgentVersion: string; maxAgentVersion?: string; supportedProtocols: number[] };
}

export const DEFAULT_MAX_DECOMPRESSED = 64 * 2 ** 30;
