// SOPS decryption in-process: files written by the real sops 3.8.1 and by the real age CLI.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { decryptSops } from '../../src/credentials/sops.js';
import { parseIdentities } from '../../src/credentials/chain.js';
import { ErrorCode, IngotError } from '../../src/errors.js';
import { needTool } from '../helpers/tools.js';
import { ageKeygen, writeSops } from './sops-writer.js';

const FIXTURE = '/work/shared/fixtures/sops';
const fixtureDir = new URL('../../../shared/fixtures/sops/', import.meta.url);

async function fixture() {
  const read = (name: string) => readFile(new URL(name, fixtureDir), 'utf8').catch(() => readFile(`${FIXTURE}/${name}`, 'utf8'));
  return {
    text: await read('secret.enc.yaml'),
    keys: parseIdentities(await read('key.txt')),
    expected: JSON.parse(await read('secret.expected.json')) as unknown,
  };
}

const refused = (pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof IngotError, String(e));
  assert.equal(e.code, ErrorCode.credentialsInvalid);
  assert.match(e.message, pattern);
  return true;
};

test('a file written by sops 3.8.1 decrypts to exactly the expected values', async () => {
  const { text, keys, expected } = await fixture();
  assert.equal(keys.length, 1);
  assert.deepEqual(await decryptSops(text, keys, 'secret.enc.yaml'), expected);
});

test('a flipped character in a value is refused', async () => {
  const { text, keys } = await fixture();
  const value = /string: ENC\[AES256_GCM,data:([^,]+),/.exec(text)![1]!;
  const flipped = value.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'));
  await assert.rejects(decryptSops(text.replace(value, flipped), keys, 'f.yaml'), refused(/value at string fails authentication/));
});

test('a flipped character in the MAC is refused', async () => {
  const { text, keys } = await fixture();
  const mac = /mac: ENC\[AES256_GCM,data:([^,]+),/.exec(text)![1]!;
  const flipped = mac.slice(0, 10) + (mac[10] === 'A' ? 'B' : 'A') + mac.slice(11);
  await assert.rejects(decryptSops(text.replace(mac, flipped), keys, 'f.yaml'), refused(/sops\.mac/));
});

test('a value moved to another key is refused (the path is authenticated)', async () => {
  const { text, keys } = await fixture();
  const secret = /^secret: (ENC\[[^\]]+\])/m.exec(text)![1]!;
  const other = /\nstring: (ENC\[[^\]]+\])/.exec(text)![1]!;
  await assert.rejects(decryptSops(text.replace(other, secret), keys, 'f.yaml'), refused(/fails authentication/));
});

test('a changed lastmodified is refused (it authenticates the MAC)', async () => {
  const { text, keys } = await fixture();
  await assert.rejects(decryptSops(text.replace('2024-03-25T22:08:10Z', '2024-03-25T22:08:11Z'), keys, 'f.yaml'), refused(/sops\.mac/));
});

test('a value replaced in clear where sops encrypts is refused (as sops fails to decrypt it)', async () => {
  const { text, keys } = await fixture();
  const other = /\nstring: (ENC\[[^\]]+\])/.exec(text)![1]!;
  await assert.rejects(decryptSops(text.replace(other, 'plain'), keys, 'f.yaml'), refused(/malformed encrypted value at string/));
});

test('the wrong age key is refused naming the recipients, never a key', async (t) => {
  if (!needTool(t, 'age-keygen', 'age')) return;
  const { text } = await fixture();
  const other = await ageKeygen();
  await assert.rejects(decryptSops(text, [other.identity], 'f.yaml'), (e: unknown) => {
    assert.ok(e instanceof IngotError && e.code === ErrorCode.credentialsInvalid);
    assert.match(e.hint ?? '', /age1je6kjhzuhdjy3fqptpttxjh5k8q46vygzlgtpuq3030c947pc5tqz9dqvr/);
    assert.ok(!JSON.stringify(e.toJSON()).includes(other.identity));
    return true;
  });
});

for (const format of ['yaml', 'json'] as const) {
  test(`a ${format} file encrypted with the real age CLI round-trips, and tampering is refused`, async (t) => {
    if (!needTool(t, 'age', 'age') || !needTool(t, 'age-keygen', 'age')) return;
    const a = await ageKeygen();
    const b = await ageKeygen();
    const data = { access_key: 'AKIA-TEST', secret_key: 's3cr3t/with+chars=', nested: { list: ['x', 'y'], n: 42, f: 2.5, ok: false } };
    const text = await writeSops(data, [a.recipient, b.recipient], format);
    assert.deepEqual(await decryptSops(text, [b.identity], `creds.${format}`), data);
    const tampered = text.replace(
      /secret_key": "ENC\[AES256_GCM,data:(.)|secret_key: ENC\[AES256_GCM,data:(.)/,
      (m) => m.slice(0, -1) + (m.endsWith('A') ? 'B' : 'A'),
    );
    assert.notEqual(tampered, text);
    await assert.rejects(decryptSops(tampered, [a.identity], `creds.${format}`), refused(/secret_key fails authentication/));
  });
}

test('a file without a sops section is refused', async () => {
  await assert.rejects(decryptSops('a: 1\n', ['AGE-SECRET-KEY-1XYZ'], 'plain.yaml'), refused(/not a SOPS file/));
});

test('a mistyped age key is refused without echoing the key (regression)', async () => {
  const { text, keys } = await fixture();
  const key = keys[0]!;
  const typo = `${key.slice(0, 30)}${key[30] === 'Q' ? 'P' : 'Q'}${key.slice(31)}`;
  await assert.rejects(decryptSops(text, [typo], 'secret.enc.yaml'), (e: unknown) => {
    assert.ok(e instanceof IngotError);
    assert.equal(e.code, ErrorCode.credentialsInvalid);
    assert.match(e.message, /age identity #1 is not a valid AGE-SECRET-KEY/);
    assert.ok(!JSON.stringify({ m: e.message, h: e.hint }).includes(typo.slice(16)), 'the key leaked');
    return true;
  });
});

test('a recipient list that is not made of mappings is refused, not a crash', async () => {
  const { text, keys } = await fixture();
  const broken = text.replace(/\n {2}age:\n(?: {4,}.*\n)+/, '\n  age:\n    - hello\n');
  assert.notEqual(broken, text, 'the fixture layout changed');
  await assert.rejects(decryptSops(broken, keys, 'secret.enc.yaml'), refused(/sops\.age must be a list of mappings/));
});
