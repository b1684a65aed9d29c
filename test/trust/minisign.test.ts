// minisign formats and signatures, checked against the real `minisign` both ways.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../src/exec/run.js';
import { blake2b, Blake2b, createBlake2b512, NATIVE_BLAKE2B512 } from '../../src/trust/blake2b.js';
import { FILE_CHUNK, hashFile, readFileChunks } from '../../src/digest/hashing.js';
import { pickParams, KDF_LIMITS } from '../../src/trust/kdf.js';
import { generateSecretKey, openSecretKey, sealSecretKey } from '../../src/trust/keys.js';
import { readPublicKey, writeKeyPair, loadSigningKey } from '../../src/trust/key-files.js';
import {
  decodePublicKey,
  decodeSignature,
  encodePublicKey,
  keyIdHex,
  PASSWORD_MAX,
  TRUSTED_COMMENT_MAX,
  UNTRUSTED_COMMENT_MAX,
} from '../../src/trust/minisign-format.js';
import { signBytes, signFile, verifyBytes, verifyFile } from '../../src/trust/signature.js';
import { needTool } from '../helpers/tools.js';

async function tmp(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ingot-trust-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;

test('BLAKE2b: RFC 7693 vector, empty-input 256-bit vector, and agreement with OpenSSL for 512 bits', () => {
  assert.equal(
    blake2b([Buffer.from('abc')], 64).toString('hex'),
    'ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923',
  );
  assert.equal(blake2b([], 32).toString('hex'), '0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8');
  for (const n of [1, 127, 128, 129, 1000]) {
    const data = randomBytes(n);
    // Split input across parts to check concatenation.
    assert.deepEqual(blake2b([data.subarray(0, 5), data.subarray(5)], 64), createHash('blake2b512').update(data).digest());
  }
});

test('BLAKE2b-512: native on this runtime; the incremental JS fallback agrees with it whatever the update sizes', () => {
  assert.equal(NATIVE_BLAKE2B512, true, 'Node built with OpenSSL has blake2b512');
  const data = randomBytes(5000);
  const expected = createHash('blake2b512').update(data).digest();
  for (const step of [1, 63, 128, 129, 4096]) {
    const js = createBlake2b512(false);
    assert.ok(js instanceof Blake2b);
    for (let o = 0; o < data.length; o += step) js.update(data.subarray(o, o + step));
    assert.deepEqual(js.digest(), expected, `updates of ${step} bytes`);
  }
  assert.deepEqual(
    new Blake2b(64).update(Buffer.alloc(256)).digest(),
    createHash('blake2b512').update(Buffer.alloc(256)).digest(),
    'exact multiple of the block',
  );
});

test('readFileChunks: every byte in order, whatever the chunk size; an error in the consumer stops the read', async (t) => {
  const dir = await tmp(t);
  const file = path.join(dir, 'f');
  const data = randomBytes(3 * 65536 + 17);
  await fs.writeFile(file, data);
  for (const size of [4096, 65536, 1 << 20]) {
    const seen: Buffer[] = [];
    const total = await readFileChunks(file, (c) => seen.push(Buffer.from(c)), { chunkSize: size });
    assert.equal(total, data.length);
    assert.deepEqual(Buffer.concat(seen), data);
  }
  const empty = path.join(dir, 'empty');
  await fs.writeFile(empty, '');
  assert.equal(await readFileChunks(empty, () => assert.fail('no chunk for an empty file')), 0);
  await assert.rejects(
    readFileChunks(
      file,
      () => {
        throw new Error('stop');
      },
      { chunkSize: 4096 },
    ),
    /stop/,
  );
  const sha = createHash('sha256');
  const blake = createHash('blake2b512');
  assert.equal(await hashFile(file, [sha, blake]), data.length);
  assert.equal(sha.digest('hex'), createHash('sha256').update(data).digest('hex'));
  assert.deepEqual(blake.digest(), createHash('blake2b512').update(data).digest());
});

test('readFileChunks with the default (pooled) buffers: concurrent reads and reads after a failed one each see only their own bytes', async (t) => {
  const dir = await tmp(t);
  // Three files of several default chunks each, read at once: more readers than spare pairs.
  const files = await Promise.all(
    [1, 2, 3].map(async (n) => {
      const file = path.join(dir, `f${n}`);
      const data = randomBytes(2 * FILE_CHUNK + n * 4099);
      await fs.writeFile(file, data);
      return { file, digest: createHash('sha256').update(data).digest('hex'), size: data.length };
    }),
  );
  const digestOf = async (file: string) => {
    const sha = createHash('sha256');
    const size = await readFileChunks(file, (c) => sha.update(c));
    return { size, digest: sha.digest('hex') };
  };
  for (let round = 0; round < 2; round++) {
    const got = await Promise.all(files.map((f) => digestOf(f.file)));
    assert.deepEqual(
      got,
      files.map(({ size, digest }) => ({ size, digest })),
    );
    // A consumer that throws mid-file returns its pair only after the read in flight lands.
    await assert.rejects(
      readFileChunks(files[0]!.file, () => {
        throw new Error('stop');
      }),
      /stop/,
    );
  }
});

test("scrypt parameters follow libsodium's pickparams", () => {
  assert.deepEqual(pickParams(KDF_LIMITS.sensitive.opslimit, KDF_LIMITS.sensitive.memlimit), { N: 1 << 20, r: 8, p: 1 });
  assert.deepEqual(pickParams(KDF_LIMITS.interactive.opslimit, KDF_LIMITS.interactive.memlimit), { N: 1 << 14, r: 8, p: 1 });
  // opslimit-bound branch: N from opslimit / (4r).
  assert.deepEqual(pickParams(32768n, 1n << 30n), { N: 1 << 10, r: 8, p: 1 });
  assert.throws(() => pickParams(1n << 62n, 1n << 62n), code('INGOT_KEY_INVALID'));
});

test('what ingot signs, minisign -V accepts (prehashed ED with a trusted comment)', async (t) => {
  if (!needTool(t, 'minisign')) return;
  const dir = await tmp(t);
  const key = generateSecretKey();
  const { publicFile } = await writeKeyPair(dir, key, {});
  const file = path.join(dir, 'artifact.bin');
  await fs.writeFile(file, randomBytes(300_000));
  const sig = await signFile(file, key, { trustedComment: 'timestamp:1700000000\tfile:artifact.bin\tversion:7' });
  assert.equal(decodeSignature(sig).algorithm, 'ED');
  await fs.writeFile(`${file}.minisig`, sig);
  const ok = await run('minisign', ['-V', '-H', '-m', file, '-p', publicFile]);
  assert.match(ok.stdout, /Trusted comment: timestamp:1700000000\tfile:artifact.bin\tversion:7/);
  // The public key file is byte-identical in shape to minisign's.
  assert.equal((await fs.readFile(publicFile, 'utf8')).split('\n')[0], `untrusted comment: minisign public key ${keyIdHex(key.keyId)}`);
  // A flipped byte in the file makes minisign reject it too.
  const bytes = await fs.readFile(file);
  bytes[1000] = bytes[1000]! ^ 1;
  await fs.writeFile(file, bytes);
  const bad = await run('minisign', ['-V', '-m', file, '-p', publicFile], { reject: false });
  assert.notEqual(bad.exitCode, 0);
  // Legacy form from ingot is accepted by minisign as well.
  await fs.writeFile(`${file}.minisig`, signBytes(bytes, key, { trustedComment: 'legacy', legacy: true }));
  await run('minisign', ['-V', '-m', file, '-p', publicFile]);
});

test('what minisign -S signs (prehashed and legacy -l), ingot verifies; tampering and wrong keys are refused', async (t) => {
  if (!needTool(t, 'minisign')) return;
  const dir = await tmp(t);
  const pub = path.join(dir, 'm.pub');
  const sec = path.join(dir, 'm.key');
  await run('minisign', ['-G', '-W', '-p', pub, '-s', sec]);
  const pk = await readPublicKey(pub);
  const file = path.join(dir, 'data.txt');
  const data = randomBytes(50_000);
  await fs.writeFile(file, data);

  await run('minisign', ['-S', '-s', sec, '-m', file, '-t', 'hello trusted']);
  const prehashed = await fs.readFile(`${file}.minisig`, 'utf8');
  assert.equal(decodeSignature(prehashed).algorithm, 'ED');
  assert.equal(verifyBytes(data, prehashed, pk).trustedComment, 'hello trusted');
  const viaFile = await verifyFile(file, prehashed, pk, `sha256:${createHash('sha256').update(data).digest('hex')}` as never);
  assert.equal(viaFile.size, data.length);

  await run('minisign', ['-S', '-l', '-s', sec, '-m', file, '-x', `${file}.legacy`]);
  const legacy = await fs.readFile(`${file}.legacy`, 'utf8');
  assert.equal(decodeSignature(legacy).algorithm, 'Ed');
  assert.match(verifyBytes(data, legacy, pk).trustedComment, /^timestamp:\d+\tfile:data.txt$/);
  assert.equal((await verifyFile(file, legacy, pk)).algorithm, 'Ed');

  // Tampered bytes, tampered trusted comment, a signature by another key.
  const tampered = Buffer.from(data);
  tampered[0] = tampered[0]! ^ 0xff;
  assert.throws(() => verifyBytes(tampered, prehashed, pk), code('INGOT_SIGNATURE_INVALID'));
  assert.throws(() => verifyBytes(tampered, legacy, pk), code('INGOT_SIGNATURE_INVALID'));
  const editedComment = prehashed.replace('hello trusted', 'hello trustee');
  assert.throws(() => verifyBytes(data, editedComment, pk), code('INGOT_SIGNATURE_INVALID'));
  const other = generateSecretKey();
  assert.throws(() => verifyBytes(data, prehashed, other.publicKey), code('INGOT_SIGNATURE_KEY_MISMATCH'));
  // Same key id, different key: the id check passes and the signature check fails.
  assert.throws(() => verifyBytes(data, prehashed, { keyId: pk.keyId, key: other.publicKey.key }), code('INGOT_SIGNATURE_INVALID'));
  assert.throws(() => verifyBytes(data, 'garbage\n', pk), code('INGOT_SIGNATURE_MALFORMED'));
});

test('keys from minisign -G -W are usable by ingot; keys from ingot are usable by minisign -S', async (t) => {
  if (!needTool(t, 'minisign')) return;
  const dir = await tmp(t);
  // minisign → ingot
  await run('minisign', ['-G', '-W', '-p', path.join(dir, 'm.pub'), '-s', path.join(dir, 'm.key')]);
  const key = await openSecretKey(await fs.readFile(path.join(dir, 'm.key'), 'utf8'));
  const mpub = await readPublicKey(path.join(dir, 'm.pub'));
  assert.deepEqual(key.publicKey, mpub);
  const file = path.join(dir, 'f');
  await fs.writeFile(file, 'payload\n');
  await fs.writeFile(`${file}.minisig`, await signFile(file, key, { trustedComment: 'by ingot with a minisign key' }));
  await run('minisign', ['-V', '-m', file, '-p', path.join(dir, 'm.pub')]);

  // ingot (unencrypted) → minisign
  const out = path.join(dir, 'ingot-plain');
  const mine = generateSecretKey();
  await writeKeyPair(out, mine, {});
  await fs.rm(`${file}.minisig`);
  await run('minisign', ['-S', '-s', path.join(out, 'ingot.key'), '-m', file]);
  verifyBytes(await fs.readFile(file), await fs.readFile(`${file}.minisig`, 'utf8'), mine.publicKey);
  assert.equal((await fs.stat(path.join(out, 'ingot.key'))).mode & 0o777, 0o600);
  await assert.rejects(writeKeyPair(out, mine, {}), code('INGOT_EXISTS'));

  // ingot (encrypted) → minisign -S with the password on stdin
  const enc = path.join(dir, 'ingot-enc');
  await writeKeyPair(enc, mine, { password: 'correct horse', kdf: KDF_LIMITS.interactive });
  await fs.rm(`${file}.minisig`);
  await run('minisign', ['-S', '-s', path.join(enc, 'ingot.key'), '-m', file], { input: 'correct horse\n' });
  await run('minisign', ['-V', '-m', file, '-p', path.join(enc, 'ingot.pub')]);
  const wrong = await run('minisign', ['-S', '-s', path.join(enc, 'ingot.key'), '-m', file, '-x', `${file}.x`], { input: 'nope\n', reject: false });
  assert.notEqual(wrong.exitCode, 0);
  // and back through ingot's loader, password from a file
  await fs.writeFile(path.join(dir, 'pw'), 'correct horse\n');
  const loaded = await loadSigningKey({ keyFile: path.join(enc, 'ingot.key'), passwordFile: path.join(dir, 'pw'), env: {}, baseDir: dir });
  assert.deepEqual(loaded?.secret, mine.secret);
  await assert.rejects(
    loadSigningKey({ keyFile: path.join(enc, 'ingot.key'), env: { INGOT_SIGNING_PASSWORD: 'wrong' }, baseDir: dir }),
    code('INGOT_KEY_PASSWORD'),
  );
  await assert.rejects(loadSigningKey({ keyFile: path.join(enc, 'ingot.key'), env: {}, baseDir: dir }), code('INGOT_KEY_PASSWORD'));
  // INGOT_SIGNING_KEY may hold the key file's contents.
  const inline = await loadSigningKey({ env: { INGOT_SIGNING_KEY: await fs.readFile(path.join(out, 'ingot.key'), 'utf8') }, baseDir: dir });
  assert.deepEqual(inline?.keyId, mine.keyId);
});

test('an encrypted key from minisign -G (password on stdin, minisign default scrypt limits) opens in ingot', async (t) => {
  if (!needTool(t, 'minisign')) return;
  const dir = await tmp(t);
  // minisign's default KDF uses 1 GiB of memory and a few seconds: this is the one slow test.
  await run('minisign', ['-G', '-p', path.join(dir, 'e.pub'), '-s', path.join(dir, 'e.key')], { input: 'pass word\npass word\n', timeoutMs: 120_000 });
  const text = await fs.readFile(path.join(dir, 'e.key'), 'utf8');
  const key = await openSecretKey(text, 'pass word');
  assert.deepEqual(key.publicKey, decodePublicKey(await fs.readFile(path.join(dir, 'e.pub'), 'utf8')));
  const data = Buffer.from('signed with a minisign-encrypted key\n');
  await fs.writeFile(path.join(dir, 'd'), data);
  await fs.writeFile(path.join(dir, 'd.minisig'), signBytes(data, key, { trustedComment: 'x' }));
  await run('minisign', ['-V', '-m', path.join(dir, 'd'), '-p', path.join(dir, 'e.pub')]);
});

test('sealed keys round-trip; corrupt or wrong-password keys are refused', async () => {
  const key = generateSecretKey();
  const plain = await sealSecretKey(key);
  assert.match(plain, /^untrusted comment: minisign secret key\n/);
  assert.deepEqual((await openSecretKey(plain)).secret, key.secret);
  const sealed = await sealSecretKey(key, { password: 'pw', kdf: KDF_LIMITS.interactive });
  await assert.rejects(openSecretKey(sealed, 'PW'), code('INGOT_KEY_PASSWORD'));
  assert.deepEqual((await openSecretKey(sealed, 'pw')).keyId, key.keyId);
  // Flip a secret byte in an unencrypted key: the checksum catches it.
  const lines = plain.split('\n');
  const raw = Buffer.from(lines[1]!, 'base64');
  raw[100] = raw[100]! ^ 1;
  await assert.rejects(openSecretKey(`${lines[0]}\n${raw.toString('base64')}\n`), code('INGOT_KEY_INVALID'));
  // "Ed" in base64 is "RW": every minisign public key line starts so.
  assert.match(encodePublicKey(key.publicKey).split('\n')[1]!, /^RW[A-Za-z0-9+/]{54}$/);
});

test("comment limits are minisign's: what ingot writes at the limit minisign reads, one byte more is refused by both", async (t) => {
  if (!needTool(t, 'minisign')) return;
  const dir = await tmp(t);
  const key = generateSecretKey();
  const { publicFile } = await writeKeyPair(dir, key, {});
  const file = path.join(dir, 'm');
  const data = Buffer.from('limits\n');
  await fs.writeFile(file, data);
  // At the limits: 1003-byte untrusted and 8173-byte trusted comments.
  const longest = signBytes(data, key, { untrustedComment: 'u'.repeat(UNTRUSTED_COMMENT_MAX), trustedComment: 't'.repeat(TRUSTED_COMMENT_MAX) });
  await fs.writeFile(`${file}.minisig`, longest);
  await run('minisign', ['-V', '-m', file, '-p', publicFile]);
  assert.equal(verifyBytes(data, longest, key.publicKey).trustedComment.length, 8173);
  // One byte more: ingot will not write it …
  assert.throws(() => signBytes(data, key, { trustedComment: 't'.repeat(TRUSTED_COMMENT_MAX + 1) }), code('INGOT_USAGE'));
  assert.throws(() => signBytes(data, key, { untrustedComment: 'u'.repeat(UNTRUSTED_COMMENT_MAX + 1), trustedComment: 'x' }), code('INGOT_USAGE'));
  // … and a file that has it is refused by minisign -V and by ingot alike.
  const [u, body, tc, global] = longest.split('\n');
  for (const [what, text] of [
    ['untrusted', `${u}u\n${body}\n${tc}\n${global}\n`],
    ['trusted', `${u}\n${body}\n${tc}t\n${global}\n`],
  ] as const) {
    await fs.writeFile(`${file}.minisig`, text);
    const refused = await run('minisign', ['-V', '-m', file, '-p', publicFile], { reject: false });
    assert.equal(refused.exitCode, 2, `minisign reads an over-long ${what} comment: ${refused.stderr}`);
    assert.match(refused.stderr + refused.stdout, /too long/);
    assert.throws(
      () => verifyBytes(data, text, key.publicKey),
      (e: unknown) => code('INGOT_SIGNATURE_MALFORMED')(e) && /minisign reads at most/.test((e as Error).message),
    );
  }
});

test("password limit is minisign's: a 1023-byte password key opens in minisign -S; longer ones are refused when sealing", async (t) => {
  if (!needTool(t, 'minisign')) return;
  const dir = await tmp(t);
  const key = generateSecretKey();
  const password = 'p'.repeat(PASSWORD_MAX);
  await writeKeyPair(dir, key, { password, kdf: KDF_LIMITS.interactive });
  const file = path.join(dir, 'f');
  await fs.writeFile(file, 'x');
  await run('minisign', ['-S', '-s', path.join(dir, 'ingot.key'), '-m', file], { input: `${password}\n` });
  await run('minisign', ['-V', '-m', file, '-p', path.join(dir, 'ingot.pub')]);
  // minisign would read only the first 1023 bytes of a longer one, and never a line break.
  await assert.rejects(sealSecretKey(key, { password: `${password}p`, kdf: KDF_LIMITS.interactive }), code('INGOT_USAGE'));
  await assert.rejects(sealSecretKey(key, { password: 'two\nlines', kdf: KDF_LIMITS.interactive }), code('INGOT_USAGE'));
});

test('a malformed inline public key says so, not "no such file" (regression)', async (t) => {
  const dir = await tmp(t);
  // 58 characters: one of rust-minisign's invalid keys.
  await assert.rejects(readPublicKey('RWQt7oYqpar/yePp+nonossdnononovlOSkkckMMfvHuGc+0+oShmJyN5Y', dir), (e: unknown) => {
    assert.ok(code('INGOT_KEY_INVALID')(e));
    assert.match((e as Error).message, /inline public key "RWQt7oYqpar\/…" \(no file of that name either\): not a minisign public key/);
    assert.doesNotMatch((e as Error).message, /ENOENT/);
    return true;
  });
  // A valid inline key still works, and a missing file is still reported as one.
  const key = generateSecretKey();
  assert.deepEqual(await readPublicKey(encodePublicKey(key.publicKey).split('\n')[1]!, dir), key.publicKey);
  await assert.rejects(readPublicKey('keys/missing.pub', dir), (e: unknown) => code('INGOT_KEY_INVALID')(e) && /ENOENT/.test((e as Error).message));
});
