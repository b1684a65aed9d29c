/**
 * `ingot mirror` from a real Ceph RGW bucket to a directory (the NAS case),
 * through the built CLI: a full verified copy (then pulled from with the
 * public key), a second run that copies nothing, an object tampered at the
 * source refused and not copied (bytes; metadata rewritten to match, caught
 * by the signed index), a SIGKILL in the middle of an image that leaves the
 * destination consistent and is resumed by the next run, and --delete that
 * removes extras only on a clean run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it, type TestContext } from 'node:test';
import { silentLogger } from '../../src/log/logger.js';
import { ImageStore } from '../../src/store/image-store.js';
import { openBackend } from '../../src/store/open.js';
import { writeKeyPair } from '../../src/trust/key-files.js';
import { generateSecretKey } from '../../src/trust/keys.js';
import { signStoreIndex } from '../../src/trust/sign-store.js';
import { bytesFor, publish, tempDir } from '../cache/fixtures.js';
import { BIN_PATH, runCli } from '../helpers/fixtures.js';
import { dropBucket, freshBucket, needRgw, rgwClient, rgwEnv, rgwStoreUrl, type Rgw } from '../helpers/rgw.js';
import { CATALOGUE_IMAGES, populate } from '../serve/fixtures.js';

const cleanups: (() => Promise<void>)[] = [];
const t = { after: (fn: () => Promise<void>) => void cleanups.push(fn) };
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const BIG = ['big/disk-a.raw', 'big/disk-b.raw'];
const bigBytes = new Map(BIG.map((p, i) => [p, bytesFor(`big-${i}`, 24 * 1024 * 1024 + i)]));

interface Source {
  rgw: Rgw;
  bucket: string;
  url: string;
  env: NodeJS.ProcessEnv;
  dir: string;
  publicKeyFile: string;
  /** Every key in the source with its bytes, read straight from RGW. */
  objects(): Promise<Map<string, Buffer>>;
  putRaw(key: string, bytes: Buffer): Promise<void>;
}

let shared: Promise<Source | undefined> | undefined;

/** One bucket for the whole file: the catalogue content plus two 24 MiB images, signed. */
function source(tc: TestContext): Promise<Source | undefined> {
  shared ??= (async () => {
    const rgw = await needRgw(tc);
    if (!rgw) return undefined;
    const bucket = await freshBucket(rgw, 'ingot-mirror');
    t.after(() => dropBucket(rgw, bucket));
    const url = rgwStoreUrl(rgw, bucket, 'lab');
    const env = rgwEnv(rgw);
    const dir = await tempDir(t, 'ingot-mirror-');
    const key = generateSecretKey();
    const { publicFile } = await writeKeyPair(path.join(dir, 'keys'), key);
    const store = new ImageStore(await openBackend(url, { baseDir: dir, env }));
    try {
      await populate(store, key);
      for (const p of BIG)
        await publish(store, { path: p, bytes: bigBytes.get(p)!, name: path.basename(p), family: 'big', version: p.endsWith('a.raw') ? '1' : '2' });
      await signStoreIndex(store, key, { log: silentLogger, force: true });
    } finally {
      await store.backend.close();
    }
    const sdk = await import('@aws-sdk/client-s3');
    const objects = async () => {
      const client = await rgwClient(rgw);
      try {
        const out = new Map<string, Buffer>();
        const listed = await client.send(new sdk.ListObjectsV2Command({ Bucket: bucket, Prefix: 'lab/' }));
        for (const o of listed.Contents ?? []) {
          if (!o.Key || o.Key.includes('.ingot-')) continue;
          const got = await client.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: o.Key }));
          out.set(o.Key.slice('lab/'.length), Buffer.from(await got.Body!.transformToByteArray()));
        }
        return out;
      } finally {
        client.destroy();
      }
    };
    const putRaw = async (k: string, bytes: Buffer) => {
      const client = await rgwClient(rgw);
      try {
        await client.send(new sdk.PutObjectCommand({ Bucket: bucket, Key: `lab/${k}`, Body: bytes }));
      } finally {
        client.destroy();
      }
    };
    return { rgw, bucket, url, env, dir, publicKeyFile: publicFile, objects, putRaw };
  })();
  return shared;
}

async function tree(root: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (rel: string) => {
    for (const e of await fs.readdir(path.join(root, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(child);
      else out.set(child, await fs.readFile(path.join(root, child)));
    }
  };
  await walk('');
  return out;
}

type Outcome = { key: string; kind: string; status: string; reason: string; resumedFrom?: number; error?: { code: string } };
async function mirror(
  src: Source,
  args: string[],
): Promise<{ code: number | null; out: { failed: number; objects: Outcome[] }; stderr: string; stdout: string }> {
  const r = await runCli(['mirror', '--from', src.url, '--json', ...args], { env: src.env });
  let out;
  try {
    out = JSON.parse(r.stdout);
  } catch {
    throw new Error(`mirror printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  return { code: r.code, out, stderr: r.stderr, stdout: r.stdout };
}

describe('ingot mirror: Ceph RGW → directory', { concurrency: false }, () => {
  it('copies everything verified; the copy verifies, serves pulls, and a second run copies nothing', async (tc) => {
    const src = await source(tc);
    if (!src) return;
    const nas = path.join(src.dir, 'nas');
    const first = await mirror(src, ['--to', nas, '--public-key', src.publicKeyFile]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.out.failed, 0);
    assert.ok(
      first.out.objects.every((o) => o.status === 'copied'),
      JSON.stringify(first.out.objects.filter((o) => o.status !== 'copied')),
    );
    // Byte for byte what the bucket holds: images, metadata, boot manifest, channels, index and signatures.
    const [remote, local] = [await src.objects(), await tree(nas)];
    assert.deepEqual([...local.keys()].sort(), [...remote.keys()].sort());
    for (const [k, bytes] of remote) assert.equal(sha(local.get(k)!), sha(bytes), k);
    assert.equal(local.size, (CATALOGUE_IMAGES.length + BIG.length) * 2 + 2 + 2 + 2 + 2, 'images+metadata, boot+sig, 2 channels+sigs, index+sig');
    // The index was written last: every object it names was already in place.
    const order = first.out.objects.map((o) => o.key);
    assert.equal(order.at(-1), 'index.json');

    const verified = await runCli(['verify', '--store', nas]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    const pulled = await runCli(['pull', 'big', '--store', nas, '--to', path.join(src.dir, 'cache'), '--public-key', src.publicKeyFile, '--json']);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(sha(await fs.readFile(JSON.parse(pulled.stdout).localPath)), sha(bigBytes.get('big/disk-b.raw')!));

    const second = await mirror(src, ['--to', nas, '--public-key', src.publicKeyFile]);
    assert.equal(second.code, 0, second.stderr);
    assert.ok(
      second.out.objects.every((o) => o.status === 'skipped' && /present and identical/.test(o.reason)),
      JSON.stringify(second.out.objects),
    );
    const text = await runCli(['mirror', '--from', src.url, '--to', nas], { env: src.env });
    assert.match(text.stdout, /0 copied \(0 B\), \d+ up to date, 0 deleted, 0 failed/);
  });

  it('refuses an object tampered at the source: not copied, no index, nothing half-written', async (tc) => {
    const src = await source(tc);
    if (!src) return;
    const victim = 'images/talos/talos-1.9.1-amd64.raw';
    const original = (await src.objects()).get(victim)!;
    const tampered = Buffer.from(original);
    tampered[1000] = tampered[1000]! ^ 0xff;
    await src.putRaw(victim, tampered);
    try {
      const nas = path.join(src.dir, 'nas-tampered');
      const r = await mirror(src, ['--to', nas]);
      assert.equal(r.code, 1);
      const bad = r.out.objects.find((o) => o.key === victim)!;
      assert.equal(bad.status, 'failed');
      assert.equal(bad.error?.code, 'INGOT_DIGEST_MISMATCH');
      assert.ok(!existsSync(path.join(nas, victim)), 'the tampered bytes have no final name');
      assert.ok(!existsSync(path.join(nas, 'metadata/talos/talos-1.9.1-amd64.raw.json')), 'no metadata for them');
      assert.ok(!readdirSync(path.join(nas, 'images/talos')).some((f) => f.startsWith('.ingot-')), 'no partial kept for proven-wrong bytes');
      assert.ok(!existsSync(path.join(nas, 'index.json')), 'the index is not copied after a failure');
      assert.equal(r.out.objects.find((o) => o.key === 'index.json')?.status, 'held');
      const others = r.out.objects.filter((o) => o.kind === 'image' && o.key !== victim);
      assert.ok(
        others.every((o) => o.status === 'copied'),
        `the other images were copied: ${JSON.stringify(others)}`,
      );

      // Metadata rewritten to match the tampered bytes: without a key it would pass; the signed index catches it.
      const metaKey = 'metadata/talos/talos-1.9.1-amd64.raw.json';
      const meta = JSON.parse((await src.objects()).get(metaKey)!.toString());
      const originalMeta = (await src.objects()).get(metaKey)!;
      meta.checksum = meta.sha256 = `sha256:${sha(tampered)}`;
      await src.putRaw(metaKey, Buffer.from(`${JSON.stringify(meta, null, 2)}\n`));
      try {
        const signed = await mirror(src, ['--to', path.join(src.dir, 'nas-signed'), '--public-key', src.publicKeyFile]);
        assert.equal(signed.code, 1);
        const refused = signed.out.objects.find((o) => o.key === victim)!;
        assert.equal(refused.status, 'failed');
        assert.equal(refused.error?.code, 'INGOT_DIGEST_MISMATCH');
        assert.match(refused.reason, /differs from the signed index/);
        assert.ok(!existsSync(path.join(src.dir, 'nas-signed', victim)));
        const dry = await mirror(src, ['--to', path.join(src.dir, 'nas-dry'), '--public-key', src.publicKeyFile, '--dry-run']);
        assert.equal(dry.code, 1, 'a dry run reports what would be refused');
        assert.match(dry.out.objects.find((o) => o.key === victim)!.reason, /would be refused/);
        assert.ok(!existsSync(path.join(src.dir, 'nas-dry')), 'a dry run writes nothing');
      } finally {
        await src.putRaw(metaKey, originalMeta);
      }
    } finally {
      await src.putRaw(victim, original);
    }
  });

  it('a SIGKILL mid-image leaves the destination consistent; the next run resumes and completes', async (tc) => {
    const src = await source(tc);
    if (!src) return;
    const nas = path.join(src.dir, 'nas-killed');
    const child = spawn(process.execPath, [BIN_PATH, 'mirror', '--from', src.url, '--to', nas, '--public-key', src.publicKeyFile, '--concurrency', '1'], {
      env: { ...process.env, ...src.env },
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const bigDir = path.join(nas, 'images', 'big');
    const deadline = Date.now() + 60_000;
    let partial: string | undefined;
    for (;;) {
      partial = existsSync(bigDir) ? readdirSync(bigDir).find((f) => f.startsWith('.ingot-tmp-part-')) : undefined;
      if (partial && statSync(path.join(bigDir, partial)).size > 2 * 1024 * 1024) break;
      if (Date.now() > deadline) throw new Error('the mirror never started on a big image');
      await sleep(5);
    }
    child.kill('SIGKILL');
    await exited;
    const killedAt = statSync(path.join(bigDir, partial)).size;
    const name = partial.replace(/^\.ingot-tmp-part-[0-9a-f]+-/, '');
    tc.diagnostic(`killed with ${killedAt} bytes of ${name} on disk`);
    // Consistent: no final name or metadata for the interrupted image, no index, and what is there verifies.
    assert.ok(!existsSync(path.join(bigDir, name)));
    assert.ok(!existsSync(path.join(nas, 'metadata', 'big', `${name}.json`)));
    assert.ok(!existsSync(path.join(nas, 'index.json')));
    const verified = await runCli(['verify', '--store', nas]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);

    const next = await mirror(src, ['--to', nas, '--public-key', src.publicKeyFile]);
    assert.equal(next.code, 0, next.stderr);
    const resumed = next.out.objects.find((o) => o.key === `images/big/${name}`)!;
    assert.equal(resumed.status, 'copied');
    assert.ok((resumed.resumedFrom ?? 0) > 0, `resumed from the kept bytes (${resumed.resumedFrom})`);
    const [remote, local] = [await src.objects(), await tree(nas)];
    assert.deepEqual([...local.keys()].filter((k) => !k.startsWith('.ingot-')).sort(), [...remote.keys()].sort());
    for (const [k, bytes] of remote) assert.equal(sha(local.get(k)!), sha(bytes), k);
  });

  it('--delete removes extras only on a clean run, and only in the places a mirror manages', async (tc) => {
    const src = await source(tc);
    if (!src) return;
    const nas = path.join(src.dir, 'nas-delete');
    const first = await mirror(src, ['--to', nas]);
    assert.equal(first.code, 0, `${first.stderr}\n${JSON.stringify(first.out.objects.filter((o) => o.status === 'failed'))}`);
    const extras = ['images/old/gone.raw', 'metadata/old/gone.raw.json', 'channels/retired.json', 'boot/old.json'];
    for (const k of extras) {
      await fs.mkdir(path.dirname(path.join(nas, k)), { recursive: true });
      await fs.writeFile(
        path.join(nas, k),
        k.startsWith('metadata/')
          ? JSON.stringify({ name: 'gone', path: 'old/gone.raw', key: 'images/old/gone.raw', checksum: `sha256:${'0'.repeat(64)}`, size: 1 })
          : 'x',
      );
    }
    await fs.writeFile(path.join(nas, 'index.html'), 'a static catalogue');
    await fs.writeFile(path.join(nas, 'README'), 'the NAS share');

    // A run with a failure keeps them.
    const victim = 'images/vyos/vyos-gateway-20250110.raw';
    const original = (await src.objects()).get(victim)!;
    await src.putRaw(victim, Buffer.concat([original, Buffer.from('junk')]));
    await fs.rm(path.join(nas, victim));
    try {
      const failing = await mirror(src, ['--to', nas, '--delete']);
      assert.equal(failing.code, 1);
      assert.equal(failing.out.objects.find((o) => o.key === victim)?.error?.code, 'INGOT_SIZE_MISMATCH');
      for (const k of extras) assert.ok(existsSync(path.join(nas, k)), `${k} kept after a failed run`);
      assert.ok(failing.out.objects.filter((o) => o.kind === 'extra').every((o) => o.status === 'held'));
    } finally {
      await src.putRaw(victim, original);
    }
    const clean = await mirror(src, ['--to', nas, '--delete']);
    assert.equal(clean.code, 0, clean.stderr);
    assert.deepEqual(
      clean.out.objects
        .filter((o) => o.status === 'deleted')
        .map((o) => o.key)
        .sort(),
      [...extras].sort(),
    );
    for (const k of extras) assert.ok(!existsSync(path.join(nas, k)), `${k} deleted`);
    assert.ok(existsSync(path.join(nas, 'index.html')) && existsSync(path.join(nas, 'README')), 'files outside the managed places are left alone');
    const remote = await src.objects();
    const local = await tree(nas);
    for (const [k, bytes] of remote) assert.equal(sha(local.get(k)!), sha(bytes), k);
  });
});
