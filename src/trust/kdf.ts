/**
 * minisign's password KDF: libsodium's crypto_pwhash_scryptsalsa208sha256,
 * which is plain scrypt with (N, r, p) picked from an (opslimit, memlimit)
 * pair by libsodium's `pickparams`. node's crypto.scrypt does the work.
 */
import { scrypt } from 'node:crypto';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';

/** libsodium's scryptsalsa208sha256 limits, as minisign uses them. */
export const KDF_LIMITS = {
  /** What `minisign -G` writes: N=2^20, r=8, p=1 (1 GiB, a few seconds). */
  sensitive: { opslimit: 33554432n, memlimit: 1073741824n },
  /** libsodium's interactive limits: N=2^14 (16 MiB, ~50 ms). For tests and throwaway keys. */
  interactive: { opslimit: 524288n, memlimit: 16777216n },
} as const;

/** scrypt's cost parameters. */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** libsodium's pickparams(): (opslimit, memlimit) → scrypt (N, r, p). */
export function pickParams(opslimitIn: bigint, memlimit: bigint): ScryptParams {
  const opslimit = opslimitIn < 32768n ? 32768n : opslimitIn;
  const r = 8n;
  let nLog2 = 1n;
  let p: bigint;
  if (opslimit < memlimit / 32n) {
    p = 1n;
    const maxN = opslimit / (r * 4n);
    for (nLog2 = 1n; nLog2 < 63n; nLog2++) if (1n << nLog2 > maxN / 2n) break;
  } else {
    const maxN = memlimit / (r * 128n);
    for (nLog2 = 1n; nLog2 < 63n; nLog2++) if (1n << nLog2 > maxN / 2n) break;
    let maxrp = opslimit / 4n / (1n << nLog2);
    if (maxrp > 0x3fffffffn) maxrp = 0x3fffffffn;
    p = maxrp / r;
  }
  // Refuse work factors no honest key uses (a hostile key file could ask for terabytes).
  if (nLog2 > 24n || p < 1n || p > 64n) {
    throw new IngotError(ErrorCode.keyInvalid, `secret key asks for unreasonable scrypt parameters (N=2^${nLog2}, p=${p})`, {
      exitCode: ExitCode.usage,
    });
  }
  return { N: Number(1n << nLog2), r: Number(r), p: Number(p) };
}

/** The keystream minisign XORs over keyid‖sk‖checksum. */
export function deriveKeystream(password: string, salt: Buffer, opslimit: bigint, memlimit: bigint, length: number): Promise<Buffer> {
  const { N, r, p } = pickParams(opslimit, memlimit);
  const maxmem = 128 * N * r * p + 128 * r * (N + 2) + (32 << 20);
  return new Promise((resolve, reject) => {
    scrypt(Buffer.from(password, 'utf8'), salt, length, { N, r, p, maxmem }, (error, key) => {
      if (error) reject(new IngotError(ErrorCode.keyInvalid, `key derivation failed: ${error.message}`, { cause: error }));
      else resolve(key);
    });
  });
}
