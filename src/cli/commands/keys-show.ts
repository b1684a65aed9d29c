/** `ingot keys show`: print a key's public key line and key id. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import { loadSigningKey, PUBLIC_KEY_FILE, readPublicKey } from '../../trust/key-files.js';
import { keyIdHex, publicKeyLine, type PublicKey } from '../../trust/minisign-format.js';
import { str, type Command } from '../command.js';

export const command: Command = {
  name: 'keys show',
  summary: 'Print the public key and key id',
  usage: 'keys show [--public-key FILE | --key FILE [--password-file FILE]]',
  description: 'Without options, reads ./ingot.pub. An encrypted --key needs its password (INGOT_SIGNING_PASSWORD or --password-file).',
  options: {
    'public-key': { type: 'string', valueName: 'FILE', description: 'Public key file (default: ./ingot.pub)' },
    key: { type: 'string', valueName: 'FILE', description: 'Secret key file (its public half is printed)' },
    'password-file': { type: 'string', valueName: 'FILE', description: 'Password for an encrypted --key' },
  },
  async run(args, ctx) {
    const keyFile = str(args, 'key');
    const publicFile = str(args, 'public-key');
    if (keyFile && publicFile) throw new UsageError('--key and --public-key exclude each other');
    let pk: PublicKey;
    if (keyFile) {
      const key = await loadSigningKey({ keyFile, passwordFile: str(args, 'password-file'), env: ctx.env, baseDir: ctx.cwd, onSecret: ctx.addSecret });
      pk = key!.publicKey;
    } else {
      const file = publicFile ?? PUBLIC_KEY_FILE;
      if (!publicFile && !fs.existsSync(path.resolve(ctx.cwd, file)))
        throw new UsageError('no ./ingot.pub here', { hint: 'pass --public-key FILE or --key FILE' });
      pk = await readPublicKey(file, ctx.cwd);
    }
    const keyId = keyIdHex(pk.keyId);
    ctx.out.result({ keyId, publicKey: publicKeyLine(pk) }, () => [publicKeyLine(pk), `key id: ${keyId}`]);
  },
};
