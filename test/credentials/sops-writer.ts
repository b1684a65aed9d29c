/**
 * Writes SOPS files for tests the way sops 3.8 does: AES-256-GCM per value
 * with the key path as AAD, a SHA-512 MAC over the plaintexts encrypted with
 * `lastmodified` as AAD, and the data key wrapped by the real `age` CLI.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { run } from '../../src/exec/run.js';

type Plain = string | number | boolean | Plain[] | { [key: string]: Plain };

function enc(plaintext: Buffer, key: Buffer, aad: string, type: string): string {
  const iv = randomBytes(32);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const data = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return `ENC[AES256_GCM,data:${data.toString('base64')},iv:${iv.toString('base64')},tag:${cipher.getAuthTag().toString('base64')},type:${type}]`;
}

// `encrypt` is false below keys that encrypted_regex does not match: those values stay in clear but still count for the MAC, as in sops.
function walk(value: Plain, path: string[], key: Buffer, hash: ReturnType<typeof createHash>, encrypt: (k: string) => boolean, inside = false): unknown {
  if (Array.isArray(value)) return value.map((v) => walk(v, path, key, hash, encrypt, inside));
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = walk(v, [...path, k], key, hash, encrypt, inside || encrypt(k));
    return out;
  }
  const [text, type] =
    typeof value === 'boolean' ? [value ? 'True' : 'False', 'bool'] : typeof value === 'number' ? [String(value), Number.isInteger(value) ? 'int' : 'float'] : [value, 'str'];
  const bytes = Buffer.from(text);
  hash.update(bytes);
  return inside ? enc(bytes, key, `${path.join(':')}:`, type) : value;
}

/**
 * A SOPS document (YAML or JSON text) for `data`, readable by the age
 * identities of `recipients`. `encryptedRegex` (sops' encrypted_regex)
 * encrypts only values under matching keys, as in `e2.sops.yaml` files whose
 * endpoint and bucket stay readable.
 */
export async function writeSops(data: { [key: string]: Plain }, recipients: string[], format: 'yaml' | 'json' = 'yaml', options: { encryptedRegex?: string } = {}): Promise<string> {
  const dataKey = randomBytes(32);
  const hash = createHash('sha512');
  const regex = options.encryptedRegex === undefined ? undefined : new RegExp(options.encryptedRegex);
  const tree = walk(data, [], dataKey, hash, (k) => (regex ? regex.test(k) : true)) as Record<string, unknown>;
  const lastmodified = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const age = [];
  for (const recipient of recipients) {
    const wrapped = await run('age', ['--encrypt', '--armor', '--recipient', recipient], { input: dataKey, timeoutMs: 10_000 });
    age.push({ recipient, enc: wrapped.stdout });
  }
  const sops = {
    kms: [],
    age,
    lastmodified,
    mac: enc(Buffer.from(hash.digest('hex').toUpperCase()), dataKey, lastmodified, 'str'),
    ...(options.encryptedRegex === undefined ? { unencrypted_suffix: '_unencrypted' } : { encrypted_regex: options.encryptedRegex }),
    version: '3.8.1',
  };
  const doc = { ...tree, sops };
  return format === 'json' ? JSON.stringify(doc, null, 2) : stringify(doc);
}

/** A new age identity from the real `age-keygen`: the key file text and its recipient. */
export async function ageKeygen(): Promise<{ keyFile: string; identity: string; recipient: string }> {
  const out = await run('age-keygen', [], { timeoutMs: 10_000 });
  const identity = out.stdout.split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-'));
  const recipient = /public key: (age1[0-9a-z]+)/.exec(out.stdout + out.stderr)?.[1];
  if (!identity || !recipient) throw new Error(`unexpected age-keygen output`);
  return { keyFile: out.stdout, identity, recipient };
}
