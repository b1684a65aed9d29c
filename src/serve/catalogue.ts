/**
 * The catalogue view of a store, as data: families and their versions,
 * channels with history, boot sets, the signed index and the verdict on every
 * signature. The HTML page, the JSON API and the static catalogue are all
 * rendered from this one object. Building it never throws for what it finds
 * in the store (a bad document becomes a `problems` line): a viewer must be
 * able to look at a broken store.
 */
import { createHash } from 'node:crypto';
import type { Digest } from '../digest/digest.js';
import { compareVersions } from '../cache/compat.js';
import type { StoreBackend } from '../store/backend.js';
import { METADATA_PREFIX } from '../store/image-store.js';
import { parseMetadata, type SourceFacts } from '../store/metadata.js';
import { INDEX_KEY, parseIndex, type Index, type IndexEntry } from '../trust/catalogue.js';
import { parseChannelFile, type ChannelHistoryEntry, type ChannelPointer } from '../trust/channels.js';
import { keyIdHex, type PublicKey } from '../trust/minisign-format.js';
import { SIGNATURE_SUFFIX } from '../trust/signed-object.js';
import { mapLimit } from '../util/concurrency.js';
import { judgeSignature, type SignatureState } from './signatures.js';

/** How an image relates to the signed index. */
export type IndexListing = 'listed' | 'differs' | 'absent' | 'no-index';

/** One published image. */
export interface CatalogueImage {
  name: string;
  path: string;
  key: string;
  checksum: Digest;
  sha256: Digest;
  size: number;
  uploadedAt?: string;
  family?: string;
  version?: string;
  source: SourceFacts;
  compatibility?: Record<string, unknown>;
  /** Listed in the index with these very metadata bytes, listed differently, or not at all. */
  index: IndexListing;
}

/** One channel of a family: where it points and how it got there (newest move first). */
export interface CatalogueChannel {
  name: string;
  current: ChannelPointer;
  history: ChannelHistoryEntry[];
}

/** A family: its versions (newest first) and channels. */
export interface CatalogueFamily {
  name: string;
  images: CatalogueImage[];
  channels: CatalogueChannel[];
  /** The channels file: its sequence and signature, when there is one. */
  channelFile?: { key: string; sequence: number; updatedAt: string; signature: SignatureState };
}

/** One part of a boot set, resolved to the published image whose sha256 it names. */
export interface BootPart {
  version: string;
  buildId: string;
  sha256: string;
  /** The image with these bytes, if the store has it. */
  image?: { name: string; key: string; path: string; size: number };
}

/** A boot set: the boot manifest plus its signature verdict. */
export interface CatalogueBootSet {
  name: string;
  key: string;
  kernel: BootPart;
  initramfs: BootPart & { guestInitProtocol?: number; sizeBytes?: number };
  compatibility: Record<string, unknown>;
  signature: SignatureState;
}

/** The signed index as the catalogue shows it. */
export interface IndexState {
  present: boolean;
  signature: SignatureState;
  version?: number;
  generatedAt?: string;
  expires?: string;
  /** Past `expires` at the time the catalogue was built. */
  expired?: boolean;
  images?: number;
  problem?: string;
}

/** Everything the catalogue page and API show. */
export interface Catalogue {
  schemaVersion: 1;
  store: string;
  generatedAt: string;
  /** Key id of the public key signatures were checked with (absent: not checked). */
  publicKeyId?: string;
  index: IndexState;
  families: CatalogueFamily[];
  /** Images without a family. */
  unfamilied: CatalogueImage[];
  bootSets: CatalogueBootSet[];
  totals: { images: number; bytes: number; families: number };
  /** Documents that could not be read (shown, never fatal). */
  problems: string[];
}

/** Inputs of `buildCatalogue`. */
export interface CatalogueOptions {
  publicKey?: PublicKey;
  now?: Date;
  signal?: AbortSignal;
}

/** Reads a store (metadata, index, channels, boot manifests; no image bytes) into a Catalogue. */
export async function buildCatalogue(backend: StoreBackend, options: CatalogueOptions = {}): Promise<Catalogue> {
  const now = options.now ?? new Date();
  const problems: string[] = [];
  const keys = { metadata: [] as string[], channels: new Set<string>(), boot: new Set<string>() };
  for await (const info of backend.list(METADATA_PREFIX, options.signal)) if (info.key.endsWith('.json')) keys.metadata.push(info.key);
  for await (const info of backend.list('channels/', options.signal)) keys.channels.add(info.key);
  for await (const info of backend.list('boot/', options.signal)) keys.boot.add(info.key);

  const index = await readIndex(backend, options.publicKey, now, problems, options.signal);
  const byPath = new Map((index.entries ?? []).map((e) => [e.path, e]));

  const images = (
    await mapLimit(keys.metadata, 16, async (key): Promise<CatalogueImage | undefined> => {
      const bytes = await backend.get(key, options.signal);
      if (!bytes) return undefined;
      const parsed = parseMetadata(bytes);
      if (!('metadata' in parsed)) {
        problems.push(`${key}: ${parsed.problem}`);
        return undefined;
      }
      const m = parsed.metadata;
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      const entry = byPath.get(m.path);
      return {
        name: String(m.name ?? m.path),
        path: m.path,
        key: m.key,
        checksum: m.checksum,
        sha256: (typeof m.sha256 === 'string' ? m.sha256 : m.checksum) as Digest,
        size: m.size,
        ...(typeof m.uploadedAt === 'string' ? { uploadedAt: m.uploadedAt } : {}),
        ...(typeof m.family === 'string' && m.family !== '' ? { family: m.family } : {}),
        ...(typeof m.version === 'string' || typeof m.version === 'number' ? { version: String(m.version) } : {}),
        source: typeof m.source === 'object' && m.source !== null ? m.source : { type: 'unknown' },
        ...(m.compatibility ? { compatibility: m.compatibility } : {}),
        index: !index.entries ? 'no-index' : !entry ? 'absent' : entry.metadata === digest ? 'listed' : 'differs',
      };
    })
  ).filter((i): i is CatalogueImage => i !== undefined);

  const families = new Map<string, CatalogueFamily>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, images: [], channels: [] }));
    return f;
  };
  const unfamilied: CatalogueImage[] = [];
  for (const image of images) (image.family ? family(image.family).images : unfamilied).push(image);
  for (const f of families.values()) f.images.sort(newestFirst);
  unfamilied.sort((a, b) => (a.path < b.path ? -1 : 1));

  for (const key of [...keys.channels].filter((k) => /^channels\/[^/]+\.json$/.test(k)).sort()) {
    const name = key.slice('channels/'.length, -'.json'.length);
    const bytes = await backend.get(key, options.signal);
    if (!bytes) continue;
    const signature = judgeSignature(
      key,
      bytes,
      keys.channels.has(key + SIGNATURE_SUFFIX) ? await backend.get(key + SIGNATURE_SUFFIX, options.signal) : undefined,
      options.publicKey,
    );
    try {
      const file = parseChannelFile(bytes, name);
      const f = family(name);
      f.channelFile = { key, sequence: file.sequence, updatedAt: file.updatedAt, signature };
      f.channels = Object.entries(file.channels)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([channel, current]) => ({ name: channel, current, history: file.history.filter((h) => h.channel === channel).reverse() }));
    } catch (error) {
      problems.push(`${key}: ${(error as Error).message}`);
    }
  }

  const bootSets: CatalogueBootSet[] = [];
  for (const key of [...keys.boot].filter((k) => /^boot\/[^/]+\.json$/.test(k)).sort()) {
    const bytes = await backend.get(key, options.signal);
    if (!bytes) continue;
    const signature = judgeSignature(
      key,
      bytes,
      keys.boot.has(key + SIGNATURE_SUFFIX) ? await backend.get(key + SIGNATURE_SUFFIX, options.signal) : undefined,
      options.publicKey,
    );
    const set = parseBootSet(key, bytes, images, signature);
    if (typeof set === 'string') problems.push(`${key}: ${set}`);
    else bootSets.push(set);
  }

  const sorted = [...families.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  return {
    schemaVersion: 1,
    store: backend.displayUrl,
    generatedAt: now.toISOString(),
    ...(options.publicKey ? { publicKeyId: keyIdHex(options.publicKey.keyId) } : {}),
    index: index.state,
    families: sorted,
    unfamilied,
    bootSets,
    totals: { images: images.length, bytes: images.reduce((n, i) => n + i.size, 0), families: sorted.length },
    problems: problems.sort(),
  };
}

/** The index, its verdict, and its entries when they may be used (verified, or merely signed when no key was given). */
async function readIndex(
  backend: StoreBackend,
  publicKey: PublicKey | undefined,
  now: Date,
  problems: string[],
  signal?: AbortSignal,
): Promise<{ state: IndexState; entries?: IndexEntry[] }> {
  const bytes = await backend.get(INDEX_KEY, signal);
  if (!bytes) return { state: { present: false, signature: { status: 'unsigned' } } };
  const signature = judgeSignature(INDEX_KEY, bytes, await backend.get(INDEX_KEY + SIGNATURE_SUFFIX, signal), publicKey);
  let index: Index;
  try {
    index = parseIndex(bytes);
  } catch (error) {
    problems.push(`${INDEX_KEY}: ${(error as Error).message}`);
    return { state: { present: true, signature, problem: (error as Error).message } };
  }
  const state: IndexState = {
    present: true,
    signature,
    version: index.version,
    generatedAt: index.generatedAt,
    expires: index.expires,
    expired: Date.parse(index.expires) <= now.getTime(),
    images: index.images.length,
  };
  return { state, ...(signature.status === 'invalid' ? {} : { entries: index.images }) };
}

/** A boot manifest → CatalogueBootSet, or the reason it cannot be read. */
function parseBootSet(key: string, bytes: Buffer, images: CatalogueImage[], signature: SignatureState): CatalogueBootSet | string {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch (error) {
    return `not JSON: ${(error as Error).message}`;
  }
  const kernel = doc?.kernel as Record<string, unknown> | undefined;
  const initramfs = doc?.initramfs as Record<string, unknown> | undefined;
  if (typeof kernel?.sha256 !== 'string' || typeof initramfs?.sha256 !== 'string') return 'not a boot manifest (no kernel.sha256 / initramfs.sha256)';
  const find = (sha: string) => {
    const digest = `sha256:${sha.replace(/^sha256:/i, '').toLowerCase()}`;
    const found = images.find((i) => i.sha256 === digest);
    return found ? { image: { name: found.name, key: found.key, path: found.path, size: found.size } } : {};
  };
  const text = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');
  const name = key.slice('boot/'.length, -'.json'.length);
  return {
    name,
    key,
    kernel: { version: text(kernel.version), buildId: text(kernel.build_id), sha256: kernel.sha256, ...find(kernel.sha256) },
    initramfs: {
      version: text(initramfs.guest_init_version),
      buildId: text(initramfs.build_id),
      sha256: initramfs.sha256,
      ...(typeof initramfs.guest_init_protocol === 'number' ? { guestInitProtocol: initramfs.guest_init_protocol } : {}),
      ...(typeof initramfs.size_bytes === 'number' ? { sizeBytes: initramfs.size_bytes } : {}),
      ...find(initramfs.sha256),
    },
    compatibility: typeof doc.compatibility === 'object' && doc.compatibility !== null ? (doc.compatibility as Record<string, unknown>) : {},
    signature,
  };
}

function newestFirst(a: CatalogueImage, b: CatalogueImage): number {
  if (a.version !== undefined && b.version !== undefined) {
    const c = compareVersions(b.version, a.version);
    if (c !== 0) return c;
  }
  return (b.uploadedAt ?? '').localeCompare(a.uploadedAt ?? '') || (a.path < b.path ? -1 : 1);
}
