// Shared by the fleet tests: the CLI in-process, and a signed store with two versions of family "kernel".
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { FsBackend } from '../../src/store/fs-backend.js';
import { ImageStore } from '../../src/store/image-store.js';
import { bytesFor, publish, tempDir } from '../cache/fixtures.js';
import { cli, type CliResult } from '../initramfs/cli.js';

/** Runs the CLI in this process, in `cwd`. */
export function ingot(cwd: string, ...argv: string[]): Promise<CliResult> {
  return cli(argv, { cwd });
}

/** A signed store with family "kernel" 1.0.0 and 2.0.0 and a key pair in root/keys. */
export async function fleetStore(t: { after(fn: () => Promise<void>): void }) {
  const root = await tempDir(t, 'ingot-fleet-');
  const storeDir = path.join(root, 'store');
  const store = new ImageStore(new FsBackend(storeDir));
  for (const v of ['1.0.0', '2.0.0']) await publish(store, { path: `kernel/vmlinuz-${v}`, bytes: bytesFor(`k${v}`, 4000), family: 'kernel', version: v });
  const gen = await ingot(root, 'keys', 'generate', '--out', 'keys', '--unencrypted');
  assert.equal(gen.code, 0, gen.stderr);
  const signed = await ingot(root, 'sign', '--store', storeDir, '--signing-key', 'keys/ingot.key');
  assert.equal(signed.code, 0, signed.stderr);
  return { root, storeDir, store, key: path.join(root, 'keys/ingot.key'), pub: path.join(root, 'keys/ingot.pub') };
}
