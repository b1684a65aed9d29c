/**
 * A bake's inputs from other images of the manifest (its base disk, and for
 * images without a bootloader a kernel and initrd), each made a local file
 * and verified before use: from the store when the image is published there
 * (checked against its metadata's sha256), otherwise straight from the
 * image's own source (checked against its declared digest).
 */
import { createWriteStream } from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { AcquireContext } from '../acquire/source.js';
import type { Digest } from '../digest/digest.js';
import { HashingStream } from '../digest/hashing.js';
import { ErrorCode, IngotError } from '../errors.js';
import type { Image } from '../manifest/types.js';
import { decompressor } from '../transform/decompress.js';

/** Finds image `name` of the manifest, or says which exist. */
export function imageNamed(name: string, ctx: Pick<AcquireContext, 'images' | 'image'>, role: string): Image {
  const found = ctx.images?.find((i) => i.name === name);
  if (!found) {
    throw new IngotError(ErrorCode.manifestInvalid, `${role} "${name}" of bake "${ctx.image}" is not an image of this manifest`, {
      image: ctx.image,
      hint: `name one of: ${
        (ctx.images ?? [])
          .map((i) => i.name)
          .filter((n) => n !== ctx.image)
          .join(', ') || '(no other image)'
      }`,
    });
  }
  return found;
}

/** The digest `image` has without reading it: its declared digest, else its store metadata. */
export async function knownDigest(image: Image, ctx: AcquireContext, role: string): Promise<Digest> {
  // The declared digest first: the same value before and after the base is published (a stable fingerprint).
  if (image.expected) return image.expected;
  if (ctx.store) {
    const stored = await ctx.store.readMetadata(image.path, ctx.signal);
    if (stored.status === 'present') return stored.metadata.sha256 ?? stored.metadata.checksum;
  }
  throw new IngotError(ErrorCode.bakeInput, `${role} "${image.name}" of bake "${ctx.image}" has no known digest: it is not in the store and declares none`, {
    image: ctx.image,
    hint: `sync "${image.name}" first (\`ingot sync --only ${image.name}\`), or give it a checksum`,
  });
}

/** Writes image `image` to `dir`/`fileName`, verified; returns the file and its digest. */
export async function fetchVerified(
  image: Image,
  ctx: AcquireContext,
  dir: string,
  fileName: string,
  role: string,
): Promise<{ file: string; digest: Digest; from: 'store' | 'source' }> {
  const file = path.join(dir, fileName);
  const hash = new HashingStream(['sha256', image.algorithm]);
  if (ctx.store) {
    const stored = await ctx.store.readMetadata(image.path, ctx.signal);
    // A stored copy that is not the declared one (the manifest moved on, not synced yet) is not used.
    if (stored.status === 'present' && (!image.expected || stored.metadata.checksum === image.expected)) {
      const meta = stored.metadata;
      await pipeline(await ctx.store.backend.read(meta.key, ctx.signal), hash, createWriteStream(file), { signal: ctx.signal });
      const expected = meta.sha256 ?? meta.checksum;
      const actual = hash.digest(expected.startsWith('sha512:') ? 'sha512' : 'sha256');
      if (actual !== expected) {
        throw new IngotError(ErrorCode.digestMismatch, `${role} "${image.name}" in the store does not match its metadata`, {
          image: ctx.image,
          expected,
          actual,
          hint: `the stored bytes changed or are damaged: \`ingot verify\` the store, then \`ingot sync --force --only ${image.name}\``,
        });
      }
      return { file, digest: actual, from: 'store' };
    }
  }
  if (!image.expected) {
    throw new IngotError(
      ErrorCode.bakeInput,
      `${role} "${image.name}" of bake "${ctx.image}" cannot be verified: it is not in the store and declares no digest`,
      {
        image: ctx.image,
        hint: `sync "${image.name}" first, or give it a checksum (validation.expected)`,
      },
    );
  }
  const opened = await image.driver.open(image.source, { ...ctx, image: image.name });
  try {
    const stages = image.source.decompress ? [opened.stream, decompressor(image.source.decompress, 'auto', ctx.env).create(), hash] : [opened.stream, hash];
    await pipeline([...stages, createWriteStream(file)] as unknown as Parameters<typeof pipeline>, { signal: ctx.signal } as never);
  } finally {
    await opened.cleanup?.();
  }
  const actual = hash.digest(image.algorithm);
  if (actual !== image.expected) {
    throw new IngotError(ErrorCode.digestMismatch, `${role} "${image.name}" does not match its declared digest`, {
      image: ctx.image,
      expected: image.expected,
      actual,
      hint: 'fix the checksum or the file; nothing was built',
    });
  }
  return { file, digest: actual, from: 'source' };
}
