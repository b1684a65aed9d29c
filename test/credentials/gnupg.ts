/**
 * A throwaway GnuPG home with a key made by the real gnupg at test time (no
 * passphrase, so gpg-agent never prompts). `close()` stops the agent that gpg
 * started for this home, then removes it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { run } from '../../src/exec/run.js';

export interface GnupgHome {
  home: string;
  env: NodeJS.ProcessEnv;
  fingerprint: string;
  close(): Promise<void>;
}

/** A fresh GNUPGHOME (short path: the agent's socket lives in it) with one ed25519/cv25519 key. */
export async function gnupgHome(uid = 'ingot test <ingot-test@example.invalid>'): Promise<GnupgHome> {
  const home = await mkdtemp(path.join(tmpdir(), 'gpg-'));
  const env: NodeJS.ProcessEnv = { ...process.env, GNUPGHOME: home };
  delete env.GPG_AGENT_INFO;
  const close = async () => {
    await run('gpgconf', ['--kill', 'gpg-agent'], { env, reject: false, timeoutMs: 10_000 }).catch(() => undefined);
    await rm(home, { recursive: true, force: true });
  };
  try {
    await run('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--quick-generate-key', uid, 'future-default', 'default', 'never'], {
      env,
      timeoutMs: 60_000,
    });
    const listing = await run('gpg', ['--batch', '--with-colons', '--list-secret-keys'], { env, timeoutMs: 10_000 });
    const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(listing.stdout)?.[1];
    if (!fingerprint) throw new Error(`no fingerprint in gpg's listing:\n${listing.stdout}`);
    return { home, env, fingerprint, close };
  } catch (error) {
    await close();
    throw error;
  }
}
