// Every minisign vector of ../shared/conformance/minisign/ (other implementations' test material and
// real signed files) gives what the reference minisign 0.11 gives: valid, bad signature / key id,
// or unreadable input — and every secret key opens (or not) with its password.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { test } from 'node:test';
import { ErrorCode, IngotError } from '../../src/errors.js';
import { readPublicKey } from '../../src/trust/key-files.js';
import { openSecretKey } from '../../src/trust/keys.js';
import { keyIdHex, publicKeyLine } from '../../src/trust/minisign-format.js';
import { verifyFile } from '../../src/trust/signature.js';
import { loadVectors, needVectors } from '../helpers/vectors.js';

interface Verify {
  id: string;
  pubkey_file: string | null;
  pubkey_b64: string | null;
  message: string;
  signature: string;
  expect: 'valid' | 'invalid-signature' | 'error';
  reference_minisign_0_11_exit: number;
  reference_minisign_0_11_output: string;
}
interface SecretKeyVector {
  id: string;
  secret_key: string;
  password: string | null | { password_file: string };
  expect: 'ok' | 'wrong-password';
  key_id: string | null;
  derived_pubkey_b64?: string;
  secret_key_hex?: string;
}
interface MalformedKey {
  id: string;
  secret_key: string;
  password: string;
  reference_minisign_0_11_R_exit: number;
}

const set = await loadVectors<{ verify: Verify[]; secret_keys: SecretKeyVector[]; malformed_secret_keys: MalformedKey[] }>('minisign');

test('the minisign vectors are present', (t) => {
  const dir = needVectors(t, 'minisign');
  if (dir) assert.ok(set && set.vectors.verify.length >= 42, 'vectors.json lists the verify cases');
});

const REFUSED_INPUT: readonly string[] = [ErrorCode.keyInvalid, ErrorCode.signatureMalformed];
const BAD_SIGNATURE: readonly string[] = [ErrorCode.signatureInvalid, ErrorCode.signatureKeyMismatch];

for (const vector of set?.vectors.verify ?? []) {
  test(`minisign vector ${vector.id}: ${vector.expect} (reference exit ${vector.reference_minisign_0_11_exit})`, async () => {
    const dir = set!.dir;
    const attempt = async () => {
      // An inline key is resolved against the vector directory, where no file has its name.
      const publicKey = await readPublicKey(vector.pubkey_file ?? vector.pubkey_b64!, dir);
      const signature = await readFile(path.join(dir, vector.signature), 'utf8');
      return verifyFile(path.join(dir, vector.message), signature, publicKey);
    };
    if (vector.expect === 'valid') {
      const result = await attempt();
      const trusted = /^Trusted comment: (.*)$/m.exec(vector.reference_minisign_0_11_output)?.[1];
      assert.equal(result.trustedComment, trusted);
      return;
    }
    await assert.rejects(attempt(), (e: unknown) => {
      assert.ok(e instanceof IngotError, String(e));
      assert.ok((vector.expect === 'error' ? REFUSED_INPUT : BAD_SIGNATURE).includes(e.code), `${e.code}: ${e.message}`);
      // Never "no such file" for an input that exists or a key given inline.
      assert.doesNotMatch(e.message, /ENOENT/);
      return true;
    });
  });
}

for (const vector of set?.vectors.secret_keys ?? []) {
  test(`minisign secret key ${vector.id}: ${vector.expect}`, async () => {
    const dir = set!.dir;
    let text = await readFile(path.join(dir, vector.secret_key), 'utf8');
    // A bare base64 key (aead's example) is the second line of a key file.
    if (vector.secret_key.endsWith('.b64')) text = `untrusted comment: from ${path.basename(vector.secret_key)}\n${text.trim()}\n`;
    const password =
      vector.password === null
        ? undefined
        : typeof vector.password === 'string'
          ? vector.password
          : await readFile(path.join(dir, vector.password.password_file), 'utf8');
    if (vector.expect === 'wrong-password') {
      await assert.rejects(openSecretKey(text, password, vector.id), (e: unknown) => e instanceof IngotError && e.code === ErrorCode.keyPassword);
      return;
    }
    const key = await openSecretKey(text, password, vector.id);
    assert.equal(keyIdHex(key.keyId), vector.key_id);
    if (vector.derived_pubkey_b64) assert.equal(publicKeyLine(key.publicKey), vector.derived_pubkey_b64);
    if (vector.secret_key_hex) assert.equal(key.secret.toString('hex'), vector.secret_key_hex);
  });
}

for (const vector of set?.vectors.malformed_secret_keys ?? []) {
  const accepts = vector.reference_minisign_0_11_R_exit === 0;
  test(`minisign malformed secret key ${vector.id}: ${accepts ? 'accepted, as by minisign' : 'refused'}`, async () => {
    const text = await readFile(path.join(set!.dir, vector.secret_key), 'utf8');
    if (accepts) {
      assert.ok(await openSecretKey(text, vector.password, vector.id));
      return;
    }
    await assert.rejects(openSecretKey(text, vector.password, vector.id), (e: unknown) => e instanceof IngotError && e.code === ErrorCode.keyInvalid);
  });
}
