// Every SOPS vector of ../shared/conformance/sops-age/ — files written by the real sops (3.2–3.12,
// YAML, JSON, dotenv, INI, "binary") in other projects' test suites — gives what vectors.json says.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { test } from 'node:test';
import { parseIdentities } from '../../src/credentials/chain.js';
import { decryptSops } from '../../src/credentials/sops.js';
import { detectSopsFormat } from '../../src/credentials/sops-stores.js';
import { ErrorCode, IngotError } from '../../src/errors.js';
import { loadVectors, needVectors } from '../helpers/vectors.js';

interface Positive {
  id: string;
  file: string;
  format: string;
  age_identity_file: string;
  decrypt_expect: string;
  mac_expect: string;
  expected_plaintext: string;
  partial_encryption: Record<string, unknown>;
}
interface Negative {
  id: string;
  file: string;
  age_identity_file: string;
  expect: 'mac-mismatch' | 'ok-mac-valid' | 'decrypt-error' | 'no-matching-identity';
}

const set = await loadVectors<{ positive: Positive[]; derived_negative: Negative[] }>('sops-age');
const read = (dir: string, name: string) => readFile(path.join(dir, name), 'utf8');

test('the sops-age vectors are present', (t) => {
  const dir = needVectors(t, 'sops-age');
  if (dir) assert.ok(set && set.vectors.positive.length >= 26, 'vectors.json lists the 26 positive files');
});

for (const vector of set?.vectors.positive ?? []) {
  test(`sops vector ${vector.id} (${vector.format}${vector.partial_encryption.mac_only_encrypted ? ', mac_only_encrypted' : ''}) decrypts to its expected plaintext`, async () => {
    const dir = set!.dir;
    assert.equal(vector.decrypt_expect, 'ok');
    assert.equal(vector.mac_expect, 'valid');
    const text = await read(dir, vector.file);
    // sops "binary" files are JSON with one `data` key; the others are named by their extension.
    assert.equal(detectSopsFormat(vector.file, text), vector.format === 'binary' ? 'json' : vector.format);
    const keys = parseIdentities(await read(dir, vector.age_identity_file));
    assert.ok(keys.length > 0, 'the identity file holds a key');
    const expected = JSON.parse(await read(dir, vector.expected_plaintext)) as unknown;
    assert.deepEqual(await decryptSops(text, keys, vector.file, { gpg: false }), expected);
  });
}

const outcome: Record<Negative['expect'], RegExp | undefined> = {
  'mac-mismatch': /MAC does not match|sops\.mac fails authentication/,
  'decrypt-error': /value at .* fails authentication/,
  'no-matching-identity': /no age identity can decrypt/,
  'ok-mac-valid': undefined,
};

for (const vector of set?.vectors.derived_negative ?? []) {
  test(`sops negative vector ${vector.id}: ${vector.expect}`, async () => {
    const dir = set!.dir;
    const text = await read(dir, vector.file);
    const keys = parseIdentities(await read(dir, vector.age_identity_file));
    const pattern = outcome[vector.expect];
    if (!pattern) {
      assert.equal(typeof (await decryptSops(text, keys, vector.file, { gpg: false })), 'object');
      return;
    }
    await assert.rejects(decryptSops(text, keys, vector.file, { gpg: false }), (e: unknown) => {
      assert.ok(e instanceof IngotError, String(e));
      assert.equal(e.code, ErrorCode.credentialsInvalid);
      assert.match(e.message, pattern);
      // Never a key or a plaintext in the error.
      assert.ok(!JSON.stringify(e.toJSON()).includes(keys[0]!));
      return true;
    });
  });
}
