/**
 * A throwaway certificate authority and a server certificate for 127.0.0.1 /
 * localhost, made with the real openssl at test time (never committed).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCa {
  dir: string;
  caCertFile: string;
  caCert: string;
  key: string;
  cert: string;
}

let cached: TestCa | undefined;

/** Creates (once per process) a CA and a server cert signed by it. */
export function testCa(): TestCa {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'ingot-ca-'));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=ingot test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf');
  cached = {
    dir,
    caCertFile: join(dir, 'ca.pem'),
    caCert: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    key: readFileSync(join(dir, 'server.key'), 'utf8'),
    cert: readFileSync(join(dir, 'server.pem'), 'utf8'),
  };
  return cached;
}

const named = new Map<string, { key: string; cert: string }>();

/**
 * A server certificate from the same throwaway CA for other host names too
 * (for tests that keep a document's real URLs and route them to a local
 * server through a CONNECT proxy).
 */
export function serverCertFor(hostnames: readonly string[]): { key: string; cert: string } {
  const id = [...hostnames].sort().join(',');
  const cached = named.get(id);
  if (cached) return cached;
  const ca = testCa();
  const stem = `named-${named.size + 1}`;
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: ca.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  ssl(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${stem}.key`,
    '-out',
    `${stem}.csr`,
    '-subj',
    `/CN=${hostnames[0] ?? 'localhost'}`,
  );
  const sans = ['IP:127.0.0.1', 'DNS:localhost', ...hostnames.map((h) => `DNS:${h}`)].join(',');
  writeFileSync(join(ca.dir, `${stem}.cnf`), `subjectAltName=${sans}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  ssl(
    'x509',
    '-req',
    '-in',
    `${stem}.csr`,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    `${stem}.pem`,
    '-days',
    '2',
    '-extfile',
    `${stem}.cnf`,
  );
  const pair = { key: readFileSync(join(ca.dir, `${stem}.key`), 'utf8'), cert: readFileSync(join(ca.dir, `${stem}.pem`), 'utf8') };
  named.set(id, pair);
  return pair;
}
