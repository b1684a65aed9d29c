/**
 * Deploy-time parameters (`--set key=value`): the only way identity — the
 * login user, SSH keys, hostname — enters user-data. Profiles stay free of
 * it, so one rendered profile fits every machine.
 */
import { UsageError } from '../errors.js';
import { suggest } from '../manifest/problems.js';

/** Identity and per-machine values given at deploy time. */
export interface DeployParams {
  hostname?: string;
  fqdn?: string;
  /** The login user created with sudo and locked password. */
  user?: string;
  /** Public keys for `user` (or the default user when no user is given). */
  sshKeys: string[];
  /** The user's groups (comma-separated on the command line). */
  groups?: string[];
}

const KEYS = ['hostname', 'fqdn', 'user', 'ssh_key', 'groups'] as const;
const HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
const USER = /^[a-z_][a-z0-9_-]{0,31}$/;

/** Parses repeated `key=value` strings; ssh_key may repeat, others may not. */
export function parseParams(pairs: readonly string[]): DeployParams {
  const params: DeployParams = { sshKeys: [] };
  const seen = new Set<string>();
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set expects key=value, got "${pair}"`);
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (!(KEYS as readonly string[]).includes(key)) {
      const guess = suggest(key, KEYS);
      throw new UsageError(`unknown --set key "${key}"${guess ? `; did you mean "${guess}"?` : ''}`, { hint: `known keys: ${KEYS.join(', ')}` });
    }
    if (key !== 'ssh_key' && seen.has(key)) throw new UsageError(`--set ${key} given twice`);
    seen.add(key);
    switch (key) {
      case 'hostname':
        if (!HOSTNAME.test(value)) throw new UsageError(`--set hostname: expected a DNS label, got "${value}"`);
        params.hostname = value;
        break;
      case 'fqdn':
        if (!value.split('.').every((label) => HOSTNAME.test(label))) throw new UsageError(`--set fqdn: expected a DNS name, got "${value}"`);
        params.fqdn = value;
        break;
      case 'user':
        if (!USER.test(value)) throw new UsageError(`--set user: expected a lowercase login name, got "${value}"`);
        params.user = value;
        break;
      case 'ssh_key':
        if (!/^(ssh-|ecdsa-|sk-)\S+ \S+/.test(value)) throw new UsageError('--set ssh_key: expected an OpenSSH public key ("ssh-ed25519 AAAA… comment")');
        params.sshKeys.push(value);
        break;
      case 'groups':
        params.groups = value
          .split(',')
          .map((g) => g.trim())
          .filter(Boolean);
        break;
    }
  }
  return params;
}
