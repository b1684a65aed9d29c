/**
 * Key files on disk and where a signing key comes from: `--signing-key FILE`
 * or `INGOT_SIGNING_KEY` (a path, or the key file's contents for CI secret
 * stores), with its password from `--password-file` or
 * `INGOT_SIGNING_PASSWORD`. Secret key files are created 0600 and never
 * overwritten.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { openSecretKey, sealSecretKey, type SealOptions, type SecretKey } from './keys.js';
import { decodePublicKeyFile, decodePublicKeyString, encodePublicKey, UNTRUSTED_PREFIX, type PublicKey } from './minisign-format.js';

/** File names `ingot keys generate` writes. */
export const SECRET_KEY_FILE = 'ingot.key';
export const PUBLIC_KEY_FILE = 'ingot.pub';

/** Writes `ingot.key` (0600) and `ingot.pub` into `dir`; refuses to overwrite either. */
export async function writeKeyPair(dir: string, key: SecretKey, options: SealOptions = {}): Promise<{ secretFile: string; publicFile: string }> {
  const secretFile = path.join(dir, SECRET_KEY_FILE);
  const publicFile = path.join(dir, PUBLIC_KEY_FILE);
  for (const file of [secretFile, publicFile]) {
    if (await exists(file)) {
      throw new IngotError(ErrorCode.exists, `refusing to overwrite ${file}`, {
        path: file,
        hint: 'choose another --out directory, or move the existing key pair away first',
        exitCode: ExitCode.usage,
      });
    }
  }
  const sealed = await sealSecretKey(key, options);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await writeExclusive(secretFile, sealed, 0o600);
  try {
    await writeExclusive(publicFile, encodePublicKey(key.publicKey), 0o644);
  } catch (error) {
    await fs.rm(secretFile, { force: true });
    throw error;
  }
  return { secretFile, publicFile };
}

/**
 * Reads a public key from a file (as `minisign -p` reads it), or takes a bare
 * base64 key (as `minisign -P` does) when no file has that name. Something
 * that looks like an inline key but is malformed says so, rather than that no
 * such file exists.
 */
export async function readPublicKey(fileOrKey: string, baseDir = process.cwd()): Promise<PublicKey> {
  const file = path.resolve(baseDir, fileOrKey);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if ((code === 'ENOENT' || code === 'ENAMETOOLONG') && looksInline(fileOrKey)) {
      return decodePublicKeyString(fileOrKey.trim(), `inline public key "${fileOrKey.trim().slice(0, 12)}…" (no file of that name either)`);
    }
    throw new IngotError(ErrorCode.keyInvalid, `cannot read public key ${file}: ${(error as Error).message}`, {
      path: file,
      hint: '--public-key takes a minisign public key file, or the key itself (56 base64 characters starting "RW")',
      exitCode: ExitCode.usage,
      cause: error,
    });
  }
  return decodePublicKeyFile(text, file);
}

// Base64 only and long enough that it is no file name anyone types: an inline key, or a broken one.
function looksInline(value: string): boolean {
  const trimmed = value.trim();
  return trimmed.length >= 40 && /^[A-Za-z0-9+/]+=*$/.test(trimmed) && !trimmed.includes('.');
}

/** Where `loadSigningKey` looks for the key and its password. */
export interface SigningKeyOptions {
  /** --signing-key FILE (wins over the environment). */
  keyFile?: string;
  /** --password-file FILE (wins over INGOT_SIGNING_PASSWORD). */
  passwordFile?: string;
  env: NodeJS.ProcessEnv;
  /** Relative paths resolve against this directory. */
  baseDir: string;
  /** Called with the password once read, so the caller can scrub it from output. */
  onSecret?: (secret: string) => void;
}

/** Loads the configured signing key, or undefined when none is configured. */
export async function loadSigningKey(options: SigningKeyOptions): Promise<SecretKey | undefined> {
  const source = options.keyFile ?? options.env.INGOT_SIGNING_KEY;
  if (source === undefined || source === '') return undefined;
  let text: string;
  let where: string;
  if (options.keyFile === undefined && source.trimStart().startsWith(UNTRUSTED_PREFIX)) {
    text = source.trimStart();
    where = 'INGOT_SIGNING_KEY';
  } else {
    where = path.resolve(options.baseDir, source);
    const fromEnv = options.keyFile === undefined;
    text = await fs.readFile(where, 'utf8').catch((error: NodeJS.ErrnoException) => {
      // From the environment the value may be a key pasted in the wrong form: never print it.
      const shown = fromEnv ? 'INGOT_SIGNING_KEY (neither a readable file nor a minisign secret key)' : where;
      throw new IngotError(ErrorCode.keyInvalid, `cannot read signing key ${shown}: ${fromEnv ? (error.code ?? 'unreadable') : error.message}`, {
        ...(fromEnv ? {} : { path: where }),
        hint: '--signing-key and INGOT_SIGNING_KEY take a minisign secret key file (or, in the variable, its contents)',
        exitCode: ExitCode.usage,
        cause: error,
      });
    });
  }
  const password = await readPassword(options);
  if (password !== undefined) options.onSecret?.(password);
  return openSecretKey(text, password, where);
}

/** The password from --password-file or INGOT_SIGNING_PASSWORD (one trailing newline dropped). */
export async function readPassword(options: Pick<SigningKeyOptions, 'passwordFile' | 'env' | 'baseDir'>): Promise<string | undefined> {
  if (options.passwordFile !== undefined) {
    const file = path.resolve(options.baseDir, options.passwordFile);
    const text = await fs.readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new IngotError(ErrorCode.usage, `cannot read password file ${file}: ${error.message}`, { path: file, exitCode: ExitCode.usage });
    });
    return text.replace(/\r?\n$/, '');
  }
  const fromEnv = options.env.INGOT_SIGNING_PASSWORD;
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

async function writeExclusive(file: string, text: string, mode: number): Promise<void> {
  const handle = await fs.open(file, 'wx', mode).catch((error: NodeJS.ErrnoException) => {
    throw new IngotError(error.code === 'EEXIST' ? ErrorCode.exists : ErrorCode.storeIo, `cannot create ${file}: ${error.message}`, {
      path: file,
      cause: error,
    });
  });
  try {
    await handle.writeFile(text);
    await handle.chmod(mode); // umask must not widen or narrow what we promise
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(file: string): Promise<boolean> {
  return fs.lstat(file).then(
    () => true,
    () => false,
  );
}
