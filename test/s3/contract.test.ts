// The shared store contract, run against the directory store and a real Ceph RGW.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after } from 'node:test';
import { FsBackend } from '../../src/store/fs-backend.js';
import { openBackend } from '../../src/store/open.js';
import { dropBucket, freshBucket, needRgw, rgwEnv, rgwStoreUrl, type Rgw } from '../helpers/rgw.js';
import { storeContract } from '../store/contract.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

storeContract(
  'fs',
  async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ingot-contract-'));
    dirs.push(dir);
    return new FsBackend(path.join(dir, 'store'));
  },
  {},
);

let bucket: Promise<string> | undefined;
let server: Rgw | undefined;
after(async () => {
  if (bucket && server) await dropBucket(server, await bucket);
});
storeContract('s3 (Ceph RGW)', async (t) => {
  const rgw = await needRgw(t);
  if (!rgw) return undefined;
  server = rgw;
  bucket ??= freshBucket(rgw, 'ingot-contract');
  // A fresh prefix per test: the prefix must confine every key.
  const url = rgwStoreUrl(rgw, await bucket, `t-${randomBytes(4).toString('hex')}`);
  return openBackend(url, { baseDir: '/', env: rgwEnv(rgw) });
});
