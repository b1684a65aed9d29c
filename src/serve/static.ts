/**
 * The static catalogue: the same page and JSON as `ingot serve`, written as
 * files (index.html, catalogue.json) for a web server that only serves
 * files — an S3 static website, a NAS share. Object links are relative to
 * `objectBase`: "" when the page sits at the store's root (the usual case),
 * or the URL the store's objects are reachable at. There are no iPXE scripts
 * (they need the server); everything else is identical.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { StoreBackend } from '../store/backend.js';
import type { PublicKey } from '../trust/minisign-format.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { buildCatalogue, type Catalogue } from './catalogue.js';
import type { FleetData } from './fleet.js';
import { renderCataloguePage } from './render.js';

/** Where the files go: a name ("index.html") and its bytes. */
export type FileWriter = (name: string, bytes: Buffer) => Promise<void>;

/** Names of the files written. */
export const STATIC_FILES = { page: 'index.html', json: 'catalogue.json' } as const;

/** Options of `writeStaticCatalogue`. */
export interface StaticCatalogueOptions {
  publicKey?: PublicKey;
  /** Prefix of object links (default "": the page sits at the store root). */
  objectBase?: string;
  /** The fleet section (catalogue --prometheus), on the page and in the JSON. */
  fleet?: FleetData;
  now?: Date;
  signal?: AbortSignal;
}

/** Builds the catalogue of `backend` and writes index.html and catalogue.json through `write`. */
export async function writeStaticCatalogue(
  backend: StoreBackend,
  write: FileWriter,
  options: StaticCatalogueOptions = {},
): Promise<{ files: string[]; catalogue: Catalogue }> {
  const catalogue = await buildCatalogue(backend, {
    ...(options.publicKey ? { publicKey: options.publicKey } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const base = options.objectBase ?? '';
  const page = renderCataloguePage(catalogue, {
    objectBase: base === '' || base.endsWith('/') ? base : `${base}/`,
    ipxe: false,
    apiHref: STATIC_FILES.json,
    ...(options.fleet ? { fleet: options.fleet } : {}),
  });
  // JSON first: the page links to it.
  await write(STATIC_FILES.json, Buffer.from(`${JSON.stringify({ ...catalogue, ...(options.fleet ? { fleet: options.fleet } : {}) }, null, 2)}\n`));
  await write(STATIC_FILES.page, Buffer.from(page));
  return { files: [STATIC_FILES.json, STATIC_FILES.page], catalogue };
}

/** Writes into a local directory, each file atomically (readers see the old page or the new one). */
export function directoryWriter(dir: string): FileWriter {
  return async (name, bytes) => {
    await fs.mkdir(dir, { recursive: true });
    await writeFileAtomic(path.join(dir, name), bytes);
  };
}

/** Writes into a store (an S3 bucket used as a static website) with its atomic put. */
export function storeWriter(backend: StoreBackend): FileWriter {
  return (name, bytes) => backend.put(name, bytes);
}
