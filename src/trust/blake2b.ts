/**
 * BLAKE2b (RFC 7693) with a variable digest length, unkeyed.
 *
 * Why our own: minisign's secret-key checksum is BLAKE2b-256, and node's
 * `blake2b512` (OpenSSL 3.0 in Node 20) has no output-length parameter —
 * BLAKE2b-256 is *not* a truncated BLAKE2b-512 (the length is part of the
 * parameter block). Inputs here are ~74 bytes, so a clear BigInt version is
 * plenty; large inputs (prehashed signatures) use node's native blake2b512
 * through {@link createBlake2b512}, which falls back to this code only on a
 * runtime built without it (e.g. BoringSSL), where it is slow but correct.
 */
import { createHash, getHashes } from 'node:crypto';

const MASK = (1n << 64n) - 1n;

const IV: readonly bigint[] = [
  0x6a09e667f3bcc908n,
  0xbb67ae8584caa73bn,
  0x3c6ef372fe94f82bn,
  0xa54ff53a5f1d36f1n,
  0x510e527fade682d1n,
  0x9b05688c2b3e6c1fn,
  0x1f83d9abfb41bd6bn,
  0x5be0cd19137e2179n,
];

const SIGMA: readonly (readonly number[])[] = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
  [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
  [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
  [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
  [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
  [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
  [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
  [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
  [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];

const rotr = (x: bigint, n: bigint): bigint => ((x >> n) | (x << (64n - n))) & MASK;

function compress(h: bigint[], block: Uint8Array, counter: bigint, last: boolean): void {
  const view = new DataView(block.buffer, block.byteOffset, 128);
  const m: bigint[] = [];
  for (let i = 0; i < 16; i++) m.push(view.getBigUint64(i * 8, true));
  const v = [...h, ...IV];
  v[12] = v[12]! ^ (counter & MASK);
  v[13] = v[13]! ^ (counter >> 64n);
  if (last) v[14] = v[14]! ^ MASK;
  const g = (a: number, b: number, c: number, d: number, x: bigint, y: bigint) => {
    v[a] = (v[a]! + v[b]! + x) & MASK;
    v[d] = rotr(v[d]! ^ v[a]!, 32n);
    v[c] = (v[c]! + v[d]!) & MASK;
    v[b] = rotr(v[b]! ^ v[c]!, 24n);
    v[a] = (v[a]! + v[b]! + y) & MASK;
    v[d] = rotr(v[d]! ^ v[a]!, 16n);
    v[c] = (v[c]! + v[d]!) & MASK;
    v[b] = rotr(v[b]! ^ v[c]!, 63n);
  };
  for (let round = 0; round < 12; round++) {
    const s = SIGMA[round % 10]!;
    g(0, 4, 8, 12, m[s[0]!]!, m[s[1]!]!);
    g(1, 5, 9, 13, m[s[2]!]!, m[s[3]!]!);
    g(2, 6, 10, 14, m[s[4]!]!, m[s[5]!]!);
    g(3, 7, 11, 15, m[s[6]!]!, m[s[7]!]!);
    g(0, 5, 10, 15, m[s[8]!]!, m[s[9]!]!);
    g(1, 6, 11, 12, m[s[10]!]!, m[s[11]!]!);
    g(2, 7, 8, 13, m[s[12]!]!, m[s[13]!]!);
    g(3, 4, 9, 14, m[s[14]!]!, m[s[15]!]!);
  }
  for (let i = 0; i < 8; i++) h[i] = h[i]! ^ v[i]! ^ v[i + 8]!;
}

/** An incremental BLAKE2b: `update` any number of times, then `digest` once. */
export class Blake2b {
  readonly #h: bigint[];
  readonly #block = new Uint8Array(128);
  #filled = 0;
  #length = 0n;

  constructor(readonly outLength: number) {
    if (!Number.isInteger(outLength) || outLength < 1 || outLength > 64) throw new RangeError('BLAKE2b output length must be 1…64');
    this.#h = [...IV];
    // Parameter block word 0: digest length, key length 0, fanout 1, depth 1.
    this.#h[0] = this.#h[0]! ^ (0x01010000n | BigInt(outLength));
  }

  update(data: Uint8Array): this {
    let offset = 0;
    while (offset < data.length) {
      // The last block is compressed in digest(), so a full block waits until more bytes arrive.
      if (this.#filled === 128) {
        compress(this.#h, this.#block, this.#length, false);
        this.#filled = 0;
      }
      const take = Math.min(128 - this.#filled, data.length - offset);
      this.#block.set(data.subarray(offset, offset + take), this.#filled);
      this.#filled += take;
      this.#length += BigInt(take);
      offset += take;
    }
    return this;
  }

  digest(): Buffer {
    this.#block.fill(0, this.#filled);
    compress(this.#h, this.#block, this.#length, true);
    const out = Buffer.alloc(64);
    for (const [i, word] of this.#h.entries()) out.writeBigUInt64LE(word, i * 8);
    return out.subarray(0, this.outLength);
  }
}

/** BLAKE2b of the concatenated `parts`, `outLength` bytes (1…64), no key. */
export function blake2b(parts: readonly Uint8Array[], outLength: number): Buffer {
  const hash = new Blake2b(outLength);
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** Whether this runtime's crypto has BLAKE2b-512 (OpenSSL builds do; BoringSSL ones do not). */
export const NATIVE_BLAKE2B512 = getHashes().includes('blake2b512');

/** BLAKE2b-512 for prehashed signatures: native when the runtime has it, else the code above. */
export function createBlake2b512(native = NATIVE_BLAKE2B512): { update(data: Uint8Array): unknown; digest(): Buffer } {
  return native ? createHash('blake2b512') : new Blake2b(64);
}
