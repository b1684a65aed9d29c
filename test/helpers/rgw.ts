/**
 * A real Ceph RGW for tests: started once by scripts/rgw.sh (idempotent; a
 * running one is reused), a fresh bucket per test file. Skips when Ceph is
 * not installed, fails instead under INGOT_REQUIRE_TOOLS=1.
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/exec/run.js';
import { which } from '../../src/exec/which.js';
import { requireTools } from './tools.js';

/** Where the test server answers and the keys of its one user. */
export interface Rgw {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
}

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'rgw.sh');
let started: Promise<Rgw> | undefined;

/** The running RGW (starting it if needed), or undefined after marking the test skipped. */
export async function needRgw(t: TestContext): Promise<Rgw | undefined> {
  for (const tool of ['ceph-mon', 'ceph-osd', 'radosgw']) {
    if (which(tool)) continue;
    const message = `${tool} not installed (apt-get install ceph-mon ceph-osd radosgw)`;
    if (requireTools) throw new Error(`${message}; INGOT_REQUIRE_TOOLS=1`);
    t.skip(message);
    return undefined;
  }
  started ??= startRgw();
  return started;
}

async function startRgw(): Promise<Rgw> {
  const result = await run('sh', [SCRIPT, 'start'], { timeoutMs: 300_000 });
  const env = new Map<string, string>();
  for (const line of result.stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) env.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const get = (name: string) => {
    const value = env.get(name);
    if (!value) throw new Error(`rgw.sh start printed no ${name}:\n${result.stdout}\n${result.stderr}`);
    return value;
  };
  return {
    endpoint: get('INGOT_RGW_ENDPOINT'),
    accessKey: get('INGOT_RGW_ACCESS_KEY'),
    secretKey: get('INGOT_RGW_SECRET_KEY'),
    region: env.get('INGOT_RGW_REGION') ?? 'us-east-1',
  };
}

/** An S3 client for test set-up and inspection (not the code under test). */
export async function rgwClient(rgw: Rgw, endpoint = rgw.endpoint) {
  const { S3Client } = await import('@aws-sdk/client-s3');
  return new S3Client({
    endpoint,
    region: rgw.region,
    forcePathStyle: true,
    credentials: { accessKeyId: rgw.accessKey, secretAccessKey: rgw.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Creates a new, empty bucket with a random name. */
export async function freshBucket(rgw: Rgw, stem = 'ingot-test'): Promise<string> {
  const { CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const bucket = `${stem}-${randomBytes(5).toString('hex')}`;
  const client = await rgwClient(rgw);
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
  return bucket;
}

/** The store URL of a bucket (and prefix) on this RGW. */
export function rgwStoreUrl(rgw: Rgw, bucket: string, prefix = '', endpoint = rgw.endpoint): string {
  const p = prefix ? `/${prefix.replace(/^\/+|\/+$/g, '')}` : '';
  return `s3://${bucket}${p}?endpoint=${encodeURIComponent(endpoint)}&region=${rgw.region}`;
}

/** Environment that gives the backend this RGW's keys. */
export function rgwEnv(rgw: Rgw): NodeJS.ProcessEnv {
  return { INGOT_S3_ACCESS_KEY: rgw.accessKey, INGOT_S3_SECRET_KEY: rgw.secretKey };
}

/** Empties and removes a bucket (objects and pending uploads), so repeated runs do not fill the OSD. */
export async function dropBucket(rgw: Rgw, bucket: string): Promise<void> {
  const sdk = await import('@aws-sdk/client-s3');
  const client = await rgwClient(rgw);
  try {
    for (;;) {
      const page = await client.send(new sdk.ListObjectsV2Command({ Bucket: bucket }));
      const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
      if (keys.length === 0) break;
      await client.send(new sdk.DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
    }
    const uploads = await client.send(new sdk.ListMultipartUploadsCommand({ Bucket: bucket }));
    for (const u of uploads.Uploads ?? []) {
      await client.send(new sdk.AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
    }
    await client.send(new sdk.DeleteBucketCommand({ Bucket: bucket }));
  } catch (error) {
    if ((error as { name?: string }).name !== 'NoSuchBucket') throw error;
  } finally {
    client.destroy();
  }
}
