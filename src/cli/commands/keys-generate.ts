/** `ingot keys generate`: a new ed25519 key pair in minisign's formats (ingot.key 0600 + ingot.pub). */
import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import { KDF_LIMITS } from '../../trust/kdf.js';
import { readPassword, writeKeyPair } from '../../trust/key-files.js';
import { generateSecretKey } from '../../trust/keys.js';
import { keyIdHex, publicKeyLine } from '../../trust/minisign-format.js';
import { bool, str, type Command } from '../command.js';

export const command: Command = {
  name: 'keys generate',
  summary: 'Create a signing key pair (minisign format)',
  usage: 'keys generate [--out DIR] [--password-file FILE | --unencrypted] [--kdf sensitive|interactive]',
  description: [
    'Writes DIR/ingot.key (secret, mode 0600) and DIR/ingot.pub; never overwrites either.',
    'The secret key is encrypted with the password from --password-file or INGOT_SIGNING_PASSWORD;',
    '--unencrypted writes it in the clear (for CI secret stores), like `minisign -G -W`.',
    'Both files work with minisign itself: `minisign -S -s ingot.key -m FILE`, `minisign -V -p ingot.pub -m FILE`.',
  ].join('\n'),
  options: {
    out: { type: 'string', valueName: 'DIR', description: 'Directory for ingot.key and ingot.pub (default: .)' },
    'password-file': { type: 'string', valueName: 'FILE', description: 'File holding the password (default: INGOT_SIGNING_PASSWORD)' },
    unencrypted: { type: 'boolean', description: 'Store the secret key unencrypted' },
    kdf: {
      type: 'string',
      valueName: 'LEVEL',
      choices: ['sensitive', 'interactive'],
      description: "scrypt cost: sensitive (minisign's default, 1 GiB) or interactive (16 MiB)",
    },
  },
  async run(args, ctx) {
    const out = path.resolve(ctx.cwd, str(args, 'out') ?? '.');
    const unencrypted = bool(args, 'unencrypted');
    const password = unencrypted ? undefined : await readPassword({ passwordFile: str(args, 'password-file'), env: ctx.env, baseDir: ctx.cwd });
    if (!unencrypted && password === undefined) {
      throw new UsageError('no password for the new secret key', { hint: 'set INGOT_SIGNING_PASSWORD, pass --password-file FILE, or --unencrypted' });
    }
    if (unencrypted && str(args, 'password-file')) throw new UsageError('--unencrypted and --password-file exclude each other');
    if (password !== undefined) ctx.addSecret(password);
    const level = str(args, 'kdf') ?? 'sensitive';
    if (level !== 'sensitive' && level !== 'interactive') throw new UsageError(`--kdf must be "sensitive" or "interactive", got "${level}"`);
    const key = generateSecretKey();
    if (password !== undefined) ctx.log.info('deriving the key-encryption key (scrypt)', { kdf: level });
    const files = await writeKeyPair(out, key, { password, kdf: KDF_LIMITS[level] });
    const keyId = keyIdHex(key.keyId);
    ctx.out.result(
      { keyId, publicKey: publicKeyLine(key.publicKey), secretKeyFile: files.secretFile, publicKeyFile: files.publicFile, encrypted: !unencrypted },
      () => [
        `secret key: ${files.secretFile}${unencrypted ? ' (unencrypted)' : ''} — keep it secret`,
        `public key: ${files.publicFile}`,
        `key id:     ${keyId}`,
        `verify with: minisign -Vm <file> -P ${publicKeyLine(key.publicKey)}`,
      ],
    );
  },
};
