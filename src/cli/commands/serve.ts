/** `ingot serve`: a read-only HTTP(S) server over a store — catalogue page, JSON API, downloads, iPXE scripts. */
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { createSecureContext } from 'node:tls';
import { isLoopbackHost } from '../../acquire/http-client.js';
import { UsageError } from '../../errors.js';
import { checkBootArgs } from '../../serve/ipxe.js';
import type { FleetData } from '../../serve/fleet.js';
import { bool, str, type Command, type CommandContext, type ParsedArgs } from '../command.js';
import { parseDuration, requireExistingStore, resolveStore, storeOptions } from '../resolve.js';

export const command: Command = {
  name: 'serve',
  summary: 'Serve a store read-only over HTTP(S): catalogue page, JSON API, downloads with ranges, iPXE boot scripts',
  usage:
    'serve --store URL [--listen 127.0.0.1:8080] [--public-key FILE] [--tls-cert FILE --tls-key FILE] [--boot-args ARGS] [--access-log FILE] [--prometheus URL]',
  description: [
    'Pages: / (catalogue), /api/v1/catalogue (the same as JSON), /api/v1/objects?prefix=P (listing),',
    '/boot/<set>.ipxe (iPXE script), and the store objects themselves under images/, metadata/, boot/,',
    'channels/ and index.json(.minisig) — with HEAD, Range/If-Range, ETag/If-None-Match. Only GET and HEAD.',
    'With --public-key every signature is checked and the verdict shown; iPXE scripts are then given out',
    'only for boot sets that verify. Without TLS it listens on loopback only, unless --allow-http (for PXE',
    'firmware on a LAN). One combined-format access log line per request on stdout (or --access-log FILE).',
    'SIGTERM/SIGINT: stop accepting, let transfers in flight finish (up to 10 s), exit 0.',
    'With --prometheus, the page and the JSON API (its "fleet" object) add the fleet: hosts per version and',
    'boot success by version over --fleet-window (docs/fleet.md).',
    '',
    'Example: ingot serve --store s3://images?endpoint=https://e2.example.net --public-key ingot.pub --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem',
  ].join('\n'),
  options: {
    ...storeOptions,
    listen: { type: 'string', valueName: 'HOST:PORT', description: 'Address to listen on (default: 127.0.0.1:8080; port 0 = any free port)' },
    'public-key': {
      type: 'string',
      valueName: 'FILE',
      description: 'Trusted minisign public key: verify the index, channels and boot manifests and show the verdict',
    },
    'tls-cert': { type: 'string', valueName: 'FILE', description: 'TLS certificate chain (PEM): serve HTTPS' },
    'tls-key': { type: 'string', valueName: 'FILE', description: 'TLS private key (PEM)' },
    'allow-http': { type: 'boolean', description: 'Allow plain HTTP on a non-loopback address (PXE firmware without TLS)' },
    'boot-args': { type: 'string', valueName: 'ARGS', description: 'Kernel arguments added in iPXE scripts, e.g. "console=ttyS0"' },
    'access-log': { type: 'string', valueName: 'FILE', description: 'Append the access log to FILE instead of stdout' },
    refresh: { type: 'string', valueName: 'DURATION', description: 'Rebuild the catalogue at most this often (default: 5s)' },
    prometheus: { type: 'string', valueName: 'URL', description: 'Prometheus server: add the fleet section (version distribution, boot success by version)' },
    'fleet-window': { type: 'string', valueName: 'DURATION', description: 'With --prometheus: how far back boots count (default: 1h)' },
  },
  async run(args, ctx) {
    if (!str(args, 'store')) throw new UsageError('--store URL is required');
    const { host, port } = parseListen(str(args, 'listen') ?? '127.0.0.1:8080');
    const tls = await readTls(str(args, 'tls-cert'), str(args, 'tls-key'), ctx.cwd);
    if (!tls && !isLoopbackHost(host) && !bool(args, 'allow-http')) {
      throw new UsageError(`refusing plain HTTP on ${host}: only loopback addresses are served without TLS`, {
        hint: 'give --tls-cert and --tls-key, or --allow-http when PXE firmware must fetch over plain HTTP (see docs/serve-and-mirror.md)',
      });
    }
    const bootArgs = str(args, 'boot-args');
    if (bootArgs !== undefined) checkBootArgs(bootArgs);
    const keyArg = str(args, 'public-key');
    const publicKey = keyArg ? await (await import('../../trust/key-files.js')).readPublicKey(keyArg, ctx.cwd) : undefined;
    const refresh = str(args, 'refresh');
    const fleet = await fleetOption(args, ctx);
    const store = await resolveStore(args, ctx, undefined, { readOnly: true });
    await requireExistingStore(store);
    const logFile = str(args, 'access-log');
    const logStream = logFile ? createWriteStream(path.resolve(ctx.cwd, logFile), { flags: 'a' }) : undefined;
    const { startServer } = await import('../../serve/server.js');
    try {
      const server = await startServer({
        backend: store.backend,
        ...(publicKey ? { publicKey } : {}),
        host,
        port,
        ...(tls ? { tls } : {}),
        log: ctx.log,
        accessLog: logStream ? (line) => logStream.write(`${line}\n`) : (line) => ctx.out.line(line),
        ...(bootArgs ? { bootArgs } : {}),
        ...(refresh ? { cacheMs: parseDuration(refresh, '--refresh') } : {}),
        ...(fleet ? { fleet } : {}),
      });
      ctx.log.info(`serving ${store.displayUrl} at ${server.url}`, { url: server.url, tls: Boolean(tls), verify: Boolean(publicKey) });
      if (!tls && !isLoopbackHost(host))
        ctx.log.warn('plain HTTP on a network address (--allow-http): anyone on the path can read and alter transfers; hosts must verify (ingot pull does)');
      await new Promise<void>((resolve) => {
        if (ctx.signal.aborted) resolve();
        ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      ctx.log.info('stopping: finishing transfers in flight');
      await server.close();
      ctx.log.info('stopped');
    } finally {
      await store.backend.close();
      if (logStream) await new Promise<void>((resolve) => logStream.end(() => resolve()));
    }
    return 0;
  },
};

/** The fleet source from --prometheus and --fleet-window (shared with `ingot catalogue`), or undefined. */
export async function fleetOption(args: ParsedArgs, ctx: CommandContext): Promise<((signal?: AbortSignal) => Promise<FleetData>) | undefined> {
  const url = str(args, 'prometheus');
  const windowRaw = str(args, 'fleet-window');
  if (url === undefined) {
    if (windowRaw !== undefined) throw new UsageError('--fleet-window goes with --prometheus');
    return undefined;
  }
  const windowMs = windowRaw === undefined ? 3_600_000 : parseDuration(windowRaw, '--fleet-window');
  const [{ prometheusClient }, { fleetSource }] = await Promise.all([import('../../fleet/prometheus.js'), import('../../fleet/status.js')]);
  return fleetSource(prometheusClient(url, { log: ctx.log }), windowMs);
}

/** "HOST:PORT", "[::1]:PORT", ":PORT" (all interfaces) or "PORT". */
export function parseListen(value: string): { host: string; port: number } {
  const v = value.trim();
  const m = /^\d{1,5}$/.test(v) ? [v, undefined, '127.0.0.1', v] : /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(v);
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port > 65535) throw new UsageError(`--listen must be HOST:PORT, [IPv6]:PORT, :PORT or PORT, got "${value}"`);
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

async function readTls(certFile: string | undefined, keyFile: string | undefined, cwd: string) {
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) throw new UsageError('--tls-cert and --tls-key go together');
  const read = (file: string, flag: string) =>
    fs.readFile(path.resolve(cwd, file)).catch((error: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read ${flag} ${file}: ${error.code ?? error.message}`);
    });
  const tls = { cert: await read(certFile, '--tls-cert'), key: await read(keyFile, '--tls-key') };
  try {
    createSecureContext(tls);
  } catch (error) {
    // Never echo the key: only the reason.
    throw new UsageError(`the TLS certificate and key are not usable together: ${(error as Error).message.split('\n')[0]}`, {
      hint: 'give a PEM certificate chain and its PEM private key',
    });
  }
  return tls;
}
