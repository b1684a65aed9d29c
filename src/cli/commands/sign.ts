/** `ingot sign`: (re-)sign the store's catalogue, index.json + index.json.minisig. */
import { DEFAULT_INDEX_EXPIRY_MS } from '../../trust/catalogue.js';
import { signStoreIndex } from '../../trust/sign-store.js';
import { bool, str, type Command } from '../command.js';
import { lockOptions, SIGNING_LOCK_TIMEOUT_MS, takeLock } from '../lock.js';
import { requireSigningKey, resolveStore, storeOptions } from '../resolve.js';
import { indexExpiryFlag } from '../values.js';

export const command: Command = {
  name: 'sign',
  summary: "Sign the store's catalogue (index.json) with a minisign key",
  usage: 'sign --store URL --signing-key FILE [--password-file FILE] [--expires 7d] [--if-changed] [--lock-timeout 30s]',
  description: [
    'Lists every published image with checksum, size and the digest of its metadata, bumps the',
    'index version and signs it (prehashed minisign signature, trusted comment with the version).',
    'The key comes from --signing-key or INGOT_SIGNING_KEY (a path or the key file contents);',
    'its password from --password-file or INGOT_SIGNING_PASSWORD.',
    'Check it with: minisign -Vm index.json -p ingot.pub',
    'Takes the store lock: concurrent signers queue (up to --lock-timeout, default 30s) and each',
    'writes the next version.',
  ].join('\n'),
  options: {
    ...storeOptions,
    'signing-key': { type: 'string', valueName: 'FILE', description: 'minisign secret key (default: INGOT_SIGNING_KEY)' },
    'password-file': { type: 'string', valueName: 'FILE', description: 'Password of the key (default: INGOT_SIGNING_PASSWORD)' },
    expires: { type: 'string', valueName: 'DURATION', description: 'Validity of the index, e.g. 12h or 7d (default: 7d)' },
    'if-changed': { type: 'boolean', description: 'Only re-sign when the catalogue changed or is past half its validity' },
    ...lockOptions,
  },
  async run(args, ctx) {
    const expiresInMs = indexExpiryFlag(str(args, 'expires'), '--expires') ?? DEFAULT_INDEX_EXPIRY_MS;
    const key = await requireSigningKey(args, ctx);
    const store = await resolveStore(args, ctx, undefined);
    try {
      const lock = await takeLock(store, args, ctx, 'sign', SIGNING_LOCK_TIMEOUT_MS);
      try {
        const result = await signStoreIndex(store, key, { expiresInMs, log: ctx.log, signal: ctx.signal, force: !bool(args, 'if-changed') });
        ctx.out.result({ store: store.displayUrl, ...result }, () =>
          result.changed ? `signed index version ${result.version} in ${store.displayUrl}` : `index version ${result.version} is current; nothing to do`,
        );
      } finally {
        await lock.release();
      }
    } finally {
      await store.backend.close();
    }
  },
};
