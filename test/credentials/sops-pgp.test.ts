// SOPS files for PGP recipients decrypt through the user's own gpg (agent, smartcard) when no
// age identity opens them — with a key made by the real gnupg in a throwaway GNUPGHOME.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { resolveS3Credentials } from '../../src/credentials/chain.js';
import { decryptSops } from '../../src/credentials/sops.js';
import { ErrorCode, IngotError } from '../../src/errors.js';
import { requireTools } from '../helpers/tools.js';
import { which } from '../../src/exec/which.js';
import { gnupgHome, type GnupgHome } from './gnupg.js';
import { ageKeygen, writeSops } from './sops-writer.js';

const tools = ['gpg', 'gpgconf', 'age', 'age-keygen'].filter((name) => !which(name));
if (tools.length > 0 && requireTools) throw new Error(`required tools missing: ${tools.join(', ')} (apt-get install gnupg age); INGOT_REQUIRE_TOOLS=1`);
const skip = tools.length > 0 ? `${tools.join(', ')} not installed` : false;

let gpg: GnupgHome;
let stranger: GnupgHome;
const dir = await mkdtemp(path.join(tmpdir(), 'ingot-pgp-'));
before(async () => {
  if (skip) return;
  gpg = await gnupgHome();
  stranger = await gnupgHome('someone else <other@example.invalid>');
});
after(async () => {
  await gpg?.close();
  await stranger?.close();
  await rm(dir, { recursive: true, force: true });
});

const data = { access_key: 'AKIA-PGP', secret_key: 'pgp/secret+value=', nested: { n: 3, ok: true } };

test('a file encrypted only to a PGP key decrypts through gpg (no age identity at all)', { skip }, async () => {
  const text = await writeSops(data, [], 'yaml', { pgp: [{ fingerprint: gpg.fingerprint, env: gpg.env }] });
  assert.match(text, /BEGIN PGP MESSAGE/);
  assert.deepEqual(await decryptSops(text, [], 'creds.sops.yaml', { gpg: { env: gpg.env } }), data);
});

test('age first, then gpg: a file for an age key we lack and our PGP key opens through gpg', { skip }, async () => {
  const otherAge = await ageKeygen();
  const unrelated = await ageKeygen();
  const text = await writeSops(data, [otherAge.recipient], 'json', { pgp: [{ fingerprint: gpg.fingerprint, env: gpg.env }] });
  assert.deepEqual(await decryptSops(text, [unrelated.identity], 'creds.sops.json', { gpg: { env: gpg.env } }), data);
  // And the age identity alone still works without gpg.
  assert.deepEqual(await decryptSops(text, [otherAge.identity], 'creds.sops.json', { gpg: false }), data);
});

test('nothing opens the file: the error names every recipient and what gpg said, never a key', { skip }, async () => {
  const age = await ageKeygen();
  const unrelated = await ageKeygen();
  const text = await writeSops(data, [age.recipient], 'yaml', { pgp: [{ fingerprint: gpg.fingerprint, env: gpg.env }] });
  await assert.rejects(decryptSops(text, [unrelated.identity], 'creds.sops.yaml', { gpg: { env: stranger.env } }), (e: unknown) => {
    assert.ok(e instanceof IngotError, String(e));
    assert.equal(e.code, ErrorCode.credentialsInvalid);
    assert.match(e.message, /no age identity or PGP key can decrypt creds\.sops\.yaml/);
    assert.ok(e.hint?.includes(age.recipient), e.hint);
    assert.ok(e.hint?.includes(`PGP ${gpg.fingerprint}`), e.hint);
    assert.match(JSON.stringify(e.details), /No secret key/);
    assert.ok(!JSON.stringify(e.toJSON()).includes(unrelated.identity));
    return true;
  });
  // With gpg turned off the error says PGP was not tried.
  await assert.rejects(decryptSops(text, [unrelated.identity], 'creds.sops.yaml', { gpg: false }), (e: unknown) => {
    assert.ok(e instanceof IngotError && /not tried/.test(JSON.stringify(e.details)));
    return true;
  });
});

test('a missing gpg program is reported as such, not as a wrong key', { skip }, async () => {
  const text = await writeSops(data, [], 'yaml', { pgp: [{ fingerprint: gpg.fingerprint, env: gpg.env }] });
  await assert.rejects(decryptSops(text, [], 'c.yaml', { gpg: { env: gpg.env, command: 'ingot-no-such-gpg' } }), (e: unknown) => {
    assert.ok(e instanceof IngotError && e.code === ErrorCode.credentialsInvalid);
    assert.match(JSON.stringify(e.details), /ingot-no-such-gpg is not available/);
    return true;
  });
});

test('the credentials chain reads a PGP-only SOPS file through gpg (GNUPGHOME from the environment)', { skip }, async () => {
  const file = path.join(dir, 'creds.sops.yaml');
  await writeFile(
    file,
    await writeSops({ access_key: 'AK-PGP', secret_key: 'SK-PGP', session_token: 'ST-PGP', bucket: 'b' }, [], 'yaml', {
      pgp: [{ fingerprint: gpg.fingerprint, env: gpg.env }],
    }),
  );
  // What gpg opened is registered with the scrubber exactly as what age opens (issue 17).
  const secrets: string[] = [];
  const creds = await resolveS3Credentials({ env: { HOME: dir, PATH: process.env.PATH, GNUPGHOME: gpg.home }, file, onSecret: (s) => secrets.push(s) });
  assert.deepEqual(creds, {
    accessKeyId: 'AK-PGP',
    secretAccessKey: 'SK-PGP',
    sessionToken: 'ST-PGP',
    bucket: 'b',
    source: `SOPS file ${file}`,
    origins: { bucket: `SOPS file ${file}` },
  });
  assert.deepEqual(secrets.sort(), ['AK-PGP', 'SK-PGP', 'ST-PGP']);
});

test('dotenv and INI credentials files (as sops writes them) work through the chain', { skip }, async () => {
  const key = await ageKeygen();
  const env = { HOME: dir, PATH: process.env.PATH, SOPS_AGE_KEY: key.identity };
  const dotenv = path.join(dir, 'creds.env');
  await writeFile(dotenv, await writeSops({ E2_ACCESS_KEY: 'AK-ENV', E2_SECRET_KEY: 'SK-ENV', E2_BUCKET: 'lab' }, [key.recipient], 'dotenv'));
  assert.deepEqual(await resolveS3Credentials({ env, file: dotenv }), {
    accessKeyId: 'AK-ENV',
    secretAccessKey: 'SK-ENV',
    bucket: 'lab',
    source: `SOPS file ${dotenv}`,
    origins: { bucket: `SOPS file ${dotenv}` },
  });
  const ini = path.join(dir, 'creds.ini');
  await writeFile(ini, await writeSops({ s3: { access_key: 'AK-INI', secret_key: 'SK-INI', endpoint: 'https://e2.example.net' } }, [key.recipient], 'ini'));
  assert.deepEqual(await resolveS3Credentials({ env, file: ini }), {
    accessKeyId: 'AK-INI',
    secretAccessKey: 'SK-INI',
    endpoint: 'https://e2.example.net',
    source: `SOPS file ${ini}`,
    origins: { endpoint: `SOPS file ${ini}` },
  });
});

test('mac_only_encrypted files written like sops: a clear value may change, an encrypted one may not', { skip }, async () => {
  const key = await ageKeygen();
  const text = await writeSops({ secret: 's', note_unencrypted: 'hello' }, [key.recipient], 'yaml', { macOnlyEncrypted: true });
  assert.deepEqual(await decryptSops(text, [key.identity], 'm.yaml', { gpg: false }), { secret: 's', note_unencrypted: 'hello' });
  assert.deepEqual(await decryptSops(text.replace('note_unencrypted: hello', 'note_unencrypted: changed'), [key.identity], 'm.yaml', { gpg: false }), {
    secret: 's',
    note_unencrypted: 'changed',
  });
  // Turning the flag off changes the MAC's seed: refused.
  await assert.rejects(
    decryptSops(text.replace('mac_only_encrypted: true', 'mac_only_encrypted: false'), [key.identity], 'm.yaml', { gpg: false }),
    /MAC does not match/,
  );
});
