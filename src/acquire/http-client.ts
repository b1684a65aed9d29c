/**
 * HTTPS downloads that survive a flaky network, as one byte stream.
 *
 * Retries are explicit and bounded: connection errors, timeouts, 429 and 5xx
 * are retried with capped exponential backoff and jitter, honouring
 * Retry-After. A body cut short resumes with a Range request from the byte
 * already delivered, guarded by If-Range so a changed file is not spliced; a
 * 206 must carry a matching Content-Range. A server that ignores Range (200)
 * is read from the start again and the bytes already delivered are skipped, so
 * the stream downstream (and its digests) sees each byte exactly once.
 * Redirects are followed by hand so https → http is refused.
 *
 * Every wait is bounded: the connect (TCP + TLS), the wait for response
 * headers, each silence in the body, and the average rate over a window (a
 * server trickling 1 byte/s is as stuck as a silent one). Each download has a
 * dispatcher of its own, so an abort destroys its sockets at once — even one
 * still in its TLS handshake, which undici alone leaves to the connect timeout.
 */
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import { isLoopbackHost } from '../util/loopback.js';

/** The defaults of `HttpOptions`, for help texts and docs. */
export const HTTP_DEFAULTS = {
  connectTimeoutMs: 30_000,
  headersTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  minSpeed: 1024,
  minSpeedTimeMs: 60_000,
  retries: 5,
} as const;

/** Longest timer Node can arm (2^31 - 1 ms); longer ones fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface HttpOptions {
  /** TCP+TLS connect timeout. Default 30 s. */
  connectTimeoutMs?: number;
  /** Longest wait for the response headers once the request is sent. Default 30 s. */
  headersTimeoutMs?: number;
  /** Longest silence in the body. Default 60 s. */
  idleTimeoutMs?: number;
  /** Slowest acceptable transfer, bytes/s, averaged over `minSpeedTimeMs` (curl's --speed-limit). Default 1024. */
  minSpeed?: number;
  /** The window of `minSpeed` (curl's --speed-time). Default 60 s. */
  minSpeedTimeMs?: number;
  /** Retries after a failed attempt that made no progress. Default 5. */
  retries?: number;
  /** First backoff delay; doubles per retry. Default 500 ms. */
  retryBaseMs?: number;
  /** Cap on one backoff delay, and on an honoured Retry-After. Default 30 s. */
  retryMaxMs?: number;
  /** Default 10. */
  maxRedirects?: number;
  /** Extra trusted CA certificates (PEM), on top of the system's and NODE_EXTRA_CA_CERTS. */
  ca?: string | Buffer;
  userAgent?: string;
  /**
   * Also accept plain http:// to a loopback address (127.0.0.0/8, ::1,
   * localhost): an `ingot serve` on the same machine. Never for other hosts.
   */
  allowLoopbackHttp?: boolean;
  /** Called before each retry (for logs). */
  onRetry?: (event: RetryEvent) => void;
  /**
   * Parallel ranged requests for one large file (aria2's --split): 1 is one
   * stream. Given, the file is split from the first byte; not given, up to
   * {@link DEFAULT_CONNECTIONS} are opened only when the first stream runs
   * slower than `oneStreamRate`. Used only when the server takes ranges and
   * the file spans at least two segments.
   */
  connections?: number;
  /**
   * Without `connections`: a first stream at least this fast (bytes/s, over
   * the time spent waiting for the network in its first {@link PROBE_BYTES})
   * stays one stream. Default {@link ONE_STREAM_RATE}.
   */
  oneStreamRate?: number;
  /** Called when a download without `connections` is split after its first bytes (for logs). */
  onSplit?: (event: SplitEvent) => void;
}

export interface SplitEvent {
  url: string;
  /** The first stream's rate, bytes/s. */
  rate: number;
  connections: number;
}

/** Most connections per large download unless told otherwise. */
export const DEFAULT_CONNECTIONS = 4;
/**
 * A first stream this fast stays one stream (64 MiB/s, about 540 Mbit/s):
 * above it, extra connections rarely raise the rate and only cost CPU on
 * both ends (on loopback, one stream synced 1 GiB of zstd ~8 % faster than
 * four). Streams held below it by a per-connection limit or a long, lossy
 * path are what ranges speed up.
 */
export const ONE_STREAM_RATE = 64 * 2 ** 20;
/** Most connections `connections` accepts: more only adds load on the server. */
export const MAX_CONNECTIONS = 16;

type Limits = Required<Pick<HttpOptions, keyof typeof HTTP_DEFAULTS>>;

/** The options with defaults filled in; refuses a zero, negative or endless limit (a wait that never ends). */
export function httpLimits(options: HttpOptions): Limits {
  const limits = { ...HTTP_DEFAULTS } as Limits;
  for (const key of Object.keys(HTTP_DEFAULTS) as (keyof Limits)[]) {
    const value = options[key];
    if (value === undefined) continue;
    const ok = key === 'retries' ? Number.isInteger(value) && value >= 0 : Number.isFinite(value) && value > 0 && (key === 'minSpeed' || value <= MAX_TIMER_MS);
    if (!ok) {
      throw new IngotError(ErrorCode.usage, `invalid download option ${key}: ${value}`, {
        exitCode: ExitCode.usage,
        hint:
          key === 'retries'
            ? 'give a whole number ≥ 0'
            : 'every download limit must be positive and finite: a zero or endless timeout would let a server stall ingot forever',
      });
    }
    limits[key] = value;
  }
  return limits;
}

export interface RetryEvent {
  url: string;
  attempt: number;
  delayMs: number;
  reason: string;
  /** Bytes already delivered; the next request resumes from here. */
  offset: number;
}

export interface Download {
  /** Total size when the server said (Content-Length / Content-Range). */
  size: number | undefined;
  /** The bytes, each delivered once, in order. */
  body: Readable;
  finalUrl: string;
}

/** HTTP statuses worth retrying: the server may answer differently later. */
const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504, 507, 509, 520, 521, 522, 523, 524]);
/** The code of the error raised when a transfer stays below `minSpeed`. */
const TOO_SLOW = 'INGOT_TOO_SLOW';
/** Waits that ran out: reported as INGOT_HTTP_TIMEOUT. */
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', TOO_SLOW]);
/** Network-level errors worth retrying. */
const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  TOO_SLOW,
]);
const MAX_ATTEMPTS = 50;

type Undici = typeof import('undici');
let undiciModule: Promise<Undici> | undefined;
const loadUndici = () => (undiciModule ??= import('undici'));

type Dispatcher = InstanceType<Undici['EnvHttpProxyAgent']>;

/**
 * A dispatcher for one download (or HEAD), closed when it ends. An abort
 * destroys every socket it owns, including those still connecting: undici
 * ignores the signal during a TCP or TLS handshake (it would wait out the
 * connect timeout), so the connector keeps them in a set to destroy.
 */
class Connection {
  readonly #onAbort = () => this.#destroy(new Error('download aborted'));

  private constructor(
    readonly dispatcher: Dispatcher,
    /** Sockets still connecting (connected ones belong to the dispatcher). */
    private readonly sockets: Set<import('node:net').Socket>,
    private readonly signal: AbortSignal | undefined,
  ) {
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  static async open(limits: Limits, options: HttpOptions, signal: AbortSignal | undefined): Promise<Connection> {
    const { EnvHttpProxyAgent, buildConnector } = await loadUndici();
    const tls = options.ca ? { ca: [...(await systemCa()), options.ca.toString()] } : {};
    const base = buildConnector({ timeout: limits.connectTimeoutMs, ...tls }) as unknown as (
      opts: Parameters<ReturnType<typeof buildConnector>>[0],
      callback: Parameters<ReturnType<typeof buildConnector>>[1],
    ) => import('node:net').Socket;
    const sockets = new Set<import('node:net').Socket>();
    const connect: ReturnType<typeof buildConnector> = (opts, callback) => {
      const socket = base(opts, ((error: Error | null, connected: import('node:net').Socket | null) => {
        sockets.delete(socket);
        (callback as (e: Error | null, s: import('node:net').Socket | null) => void)(error, connected);
      }) as typeof callback);
      sockets.add(socket);
      // Aborted while this connect was being set up: do not let it run.
      if (signal?.aborted) socket.destroy(new Error('download aborted'));
    };
    const dispatcher = new EnvHttpProxyAgent({
      // Direct connections use the tracking connector; through a proxy, undici connects itself (bounded by the timeout).
      connect,
      requestTls: { timeout: limits.connectTimeoutMs, ...tls },
      proxyTls: { timeout: limits.connectTimeoutMs },
      headersTimeout: limits.headersTimeoutMs,
      bodyTimeout: limits.idleTimeoutMs,
    });
    const connection = new Connection(dispatcher, sockets, signal);
    if (signal?.aborted) connection.#onAbort();
    return connection;
  }

  #destroy(reason: Error): void {
    // With an error, so undici's connect-timeout timer is cleared too.
    for (const socket of this.sockets) socket.destroy(reason);
    this.sockets.clear();
    this.dispatcher.destroy(reason).catch(() => undefined);
  }

  /** Ends the download's sockets (keep-alive included) so nothing outlives it. */
  close(): void {
    this.signal?.removeEventListener('abort', this.#onAbort);
    this.#destroy(new Error('download finished'));
  }
}

async function systemCa(): Promise<string[]> {
  const tls = await import('node:tls');
  return [...tls.rootCertificates];
}

/** Where a download starts: from byte `start`, only if the file still matches `validator` (If-Range). */
export interface DownloadFrom {
  start: number;
  validator?: string;
}

/**
 * Starts a download; resolves once the first response headers are in. With
 * `from`, the body starts at `from.start` (`size` is still the whole file's).
 */
export async function download(url: string, options: HttpOptions = {}, signal?: AbortSignal, from?: DownloadFrom): Promise<Download> {
  const limits = httpLimits(options);
  signal?.throwIfAborted();
  const connection = await Connection.open(limits, options, signal);
  const state = new DownloadState(url, options, limits, connection, signal);
  if (from) {
    state.offset = from.start;
    state.validator = from.validator;
  }
  let first;
  try {
    first = await state.connect();
  } catch (error) {
    connection.close();
    throw error;
  }
  const connections = options.connections ?? DEFAULT_CONNECTIONS;
  const parallel = !from && connections > 1 && rangesUsable(first, state.total);
  // Not told how many: split only a first stream that turns out slow.
  const bytes = !parallel
    ? state.run(first)
    : options.connections === undefined
      ? probedRun(state, first, connections, options.oneStreamRate ?? ONE_STREAM_RATE)
      : rangedRun(state, state.run(first), connections);
  return { size: state.total, body: Readable.from(bytes, { objectMode: false, highWaterMark: 1 << 20 }), finalUrl: state.currentUrl };
}

/** Bytes per ranged request of a parallel download. */
export const RANGE_SEGMENT = 8 << 20;
/** Bytes the first stream delivers before the choice between one stream and ranges. */
export const PROBE_BYTES = RANGE_SEGMENT / 2;
/** The smallest range a split after the probe asks for. */
const MIN_SEGMENT = 1 << 20;

/** A first answer worth splitting: a whole-file 200 that says it takes ranges, two segments or more. */
function rangesUsable(first: { response: Response; skip: number }, total: number | undefined): boolean {
  return (
    first.response.statusCode === 200 &&
    first.skip === 0 &&
    total !== undefined &&
    total >= 2 * RANGE_SEGMENT &&
    header(first.response.headers, 'accept-ranges')?.toLowerCase() === 'bytes'
  );
}

/**
 * A large file without a number of connections: the first answer first
 * delivers {@link PROBE_BYTES}. When the time spent waiting for them (the
 * consumer's time left out) gives at least `oneStreamRate`, the file stays
 * one stream; otherwise the rest goes over ranges ({@link rangedRun}).
 */
async function* probedRun(
  head: DownloadState,
  first: { response: Response; skip: number },
  connections: number,
  oneStreamRate: number,
): AsyncGenerator<Buffer> {
  const body = head.run(first);
  try {
    let waitedMs = 0;
    while (head.offset < PROBE_BYTES) {
      const started = performance.now();
      const step = await body.next();
      waitedMs += performance.now() - started;
      if (step.done) return;
      yield step.value;
    }
    const rate = head.offset / (Math.max(waitedMs, 0.001) / 1000);
    if (rate >= oneStreamRate) {
      yield* body;
      return;
    }
    head.options.onSplit?.({ url: head.url, rate, connections });
    // What is left, shared out: a 20 MiB file goes as four 4 MiB parts, not two 8 MiB ones after the first.
    const share = Math.ceil((head.total! - PROBE_BYTES) / connections / MIN_SEGMENT) * MIN_SEGMENT;
    yield* rangedRun(head, body, connections, Math.min(RANGE_SEGMENT, Math.max(MIN_SEGMENT, share)));
  } finally {
    // Stopped early (a failure, the reader gone): the first answer's connection closes too.
    await body.return(undefined);
  }
}

/**
 * One file over several connections, delivered in order. The first answer
 * (`body`) serves up to the next `segment` boundary and is then cut; the
 * rest is fetched as ranged GETs of `segment` bytes (default
 * {@link RANGE_SEGMENT}) by `connections` workers, each on a
 * keep-alive connection of its own, each range resuming by itself after a
 * cut (the same retries, If-Range and checks as one stream). Segments ahead
 * of the reader wait in memory, at most one per connection (32 MiB with the default), so memory stays
 * bounded while a slow consumer (a decompressor, an upload) catches up.
 */
async function* rangedRun(head: DownloadState, body: AsyncGenerator<Buffer>, connections: number, segment = RANGE_SEGMENT): AsyncGenerator<Buffer> {
  const total = head.total!;
  // The first answer ends at the segment boundary after where it is (0 unless a probe read some).
  head.end = Math.min(total, (Math.floor(head.offset / segment) + 1) * segment);
  const segments: Segment[] = [];
  for (let start = head.end; start < total; start += segment) {
    segments.push({ start, end: Math.min(total, start + segment), chunks: [], done: false });
  }
  const window = connections;
  const stop = new AbortController();
  const signal = head.signal ? AbortSignal.any([head.signal, stop.signal]) : stop.signal;
  let next = 0; // the next segment a worker takes
  let reading = 0; // the segment the reader is on
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const changed = () =>
    new Promise<void>((resolve) => {
      wake = resolve;
    });
  // Workers wait for the reader to move on when the window is full.
  const readerMoved: (() => void)[] = [];
  const worker = async () => {
    let connection: Connection | undefined;
    try {
      connection = await Connection.open(head.limits, head.options, signal);
      for (;;) {
        // Stopped (a failure, the reader gone) ends the wait for good: a woken worker must not wait again.
        while (!signal.aborted && next < segments.length && next >= reading + window) await new Promise<void>((r) => readerMoved.push(r));
        if (next >= segments.length || signal.aborted) return;
        const segment = segments[next++]!;
        const state = new DownloadState(head.currentUrl, head.options, head.limits, connection, signal, false);
        state.offset = segment.start;
        state.end = segment.end;
        state.total = total;
        state.validator = head.validator;
        for await (const chunk of state.run(await state.connect())) {
          segment.chunks.push(chunk);
          if (segments[reading] === segment) notify();
        }
        segment.done = true;
        notify();
      }
    } catch (error) {
      if (!stop.signal.aborted) {
        failure ??= error;
        notify();
      }
    } finally {
      connection?.close();
    }
  };
  const workers: Promise<void>[] = [];
  try {
    // The first segment comes from the first answer, then that connection is cut.
    for (let i = 1; i < connections && i <= segments.length; i++) workers.push(worker());
    yield* body;
    if (segments.length >= connections) workers.push(worker());
    for (; reading < segments.length; reading++) {
      for (const r of readerMoved.splice(0)) r();
      const segment = segments[reading]!;
      for (;;) {
        if (failure !== undefined) throw failure;
        const chunk = segment.chunks.shift();
        if (chunk) {
          yield chunk;
          continue;
        }
        if (segment.done) break;
        await changed();
      }
    }
    if (failure !== undefined) throw failure;
  } finally {
    stop.abort(new Error('download finished'));
    for (const r of readerMoved.splice(0)) r();
    await Promise.allSettled(workers);
  }
}

interface Segment {
  start: number;
  /** Exclusive. */
  end: number;
  chunks: Buffer[];
  done: boolean;
}

/** HEAD (following redirects): the status and Content-Length, for `validate --remote`. */
export async function head(url: string, options: HttpOptions = {}, signal?: AbortSignal) {
  const { request } = await loadUndici();
  const limits = httpLimits(options);
  const connection = await Connection.open(limits, options, signal);
  const { dispatcher } = connection;
  let current = url;
  try {
    for (let hop = 0; ; hop++) {
      assertHttps(current, url, options.allowLoopbackHttp);
      const response = await request(current, { method: 'HEAD', dispatcher, signal, headers: baseHeaders(options) }).catch((error: unknown) => {
        signal?.throwIfAborted();
        throw finalError(current, networkError(current, error), undefined, limits);
      });
      await response.body.dump();
      const location = header(response.headers, 'location');
      if (response.statusCode >= 300 && response.statusCode < 400 && location) {
        if (hop >= (options.maxRedirects ?? 10)) throw tooManyRedirects(url);
        current = new URL(location, current).toString();
        continue;
      }
      const length = header(response.headers, 'content-length');
      return {
        status: response.statusCode,
        size: length === undefined ? undefined : Number(length),
        finalUrl: current,
        etag: header(response.headers, 'etag'),
        lastModified: header(response.headers, 'last-modified'),
      };
    }
  } finally {
    connection.close();
  }
}

interface Response {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: AsyncIterable<Buffer> & { dump(): Promise<void>; destroy(error?: Error): void };
}

class DownloadState {
  offset = 0;
  total: number | undefined;
  currentUrl: string;
  validator: string | undefined;
  attempt = 0;
  failuresWithoutProgress = 0;
  rangeUnusable = false;
  /** Stop before this byte (a ranged part of a parallel download); the body is cut there. */
  end: number | undefined;

  constructor(
    readonly url: string,
    readonly options: HttpOptions,
    readonly limits: Limits,
    readonly connection: Connection,
    readonly signal: AbortSignal | undefined,
    /** Close the connection when the body ends (a parallel download's workers keep theirs for the next range). */
    readonly ownsConnection = true,
  ) {
    this.currentUrl = url;
  }

  /** Where this body ends: `end`, else the whole file. */
  get limit(): number | undefined {
    return this.end ?? this.total;
  }

  /** One GET (following redirects, retrying failures) until a usable response. */
  async connect(): Promise<{ response: Response; skip: number }> {
    for (;;) {
      this.signal?.throwIfAborted();
      try {
        return await this.requestOnce();
      } catch (error) {
        await this.backoff(error);
      }
    }
  }

  async *run(first: { response: Response; skip: number }): AsyncGenerator<Buffer> {
    let current: { response: Response; skip: number } | undefined = first;
    try {
      for (;;) {
        const { response, skip } = current ?? (await this.connect());
        current = undefined;
        let toSkip = skip;
        const startOffset = this.offset;
        const guard = new SpeedGuard(this.limits.minSpeed, this.limits.minSpeedTimeMs, (rate) =>
          response.body.destroy(
            Object.assign(
              new Error(`transfer slower than ${formatRate(this.limits.minSpeed)} for ${seconds(this.limits.minSpeedTimeMs)} (${formatRate(rate)})`),
              {
                code: TOO_SLOW,
              },
            ),
          ),
        );
        try {
          for await (const raw of response.body) {
            guard.add(raw.length);
            let chunk = raw;
            if (toSkip > 0) {
              if (chunk.length <= toSkip) {
                toSkip -= chunk.length;
                guard.waiting();
                continue;
              }
              chunk = chunk.subarray(toSkip);
              toSkip = 0;
            }
            if (this.end !== undefined && this.offset + chunk.length > this.end) {
              // Past the part asked for (a whole-file answer, or a server that ignored the range's end): cut here.
              const last = chunk.subarray(0, this.end - this.offset);
              this.offset = this.end;
              response.body.destroy();
              if (last.length > 0) yield last;
              return;
            }
            if (this.total !== undefined && this.offset + chunk.length > this.total) {
              throw new IngotError(ErrorCode.httpTruncated, `server sent more bytes than announced (${this.total}): ${this.url}`, {
                url: this.url,
              });
            }
            this.offset += chunk.length;
            yield chunk;
            // The consumer wants more: from here the clock runs against the server.
            guard.waiting();
          }
          if (this.limit === undefined || this.offset === this.limit) return;
          throw Object.assign(new Error(`body ended at ${this.offset} of ${this.limit} bytes`), { code: 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' });
        } catch (error) {
          response.body.destroy();
          // Bytes trickling in below the minimum speed are no progress: else a trickle would retry forever.
          if (this.offset > startOffset && codeOf(error) !== TOO_SLOW) this.failuresWithoutProgress = 0;
          await this.backoff(error);
        } finally {
          guard.stop();
        }
      }
    } finally {
      if (this.ownsConnection) this.connection.close();
    }
  }

  async requestOnce(): Promise<{ response: Response; skip: number }> {
    const { request } = await loadUndici();
    const { dispatcher } = this.connection;
    this.attempt++;
    const headers: Record<string, string> = { ...baseHeaders(this.options), 'accept-encoding': 'identity' };
    if ((this.offset > 0 || this.end !== undefined) && !this.rangeUnusable) {
      headers.range = `bytes=${this.offset}-${this.end === undefined ? '' : this.end - 1}`;
      if (this.validator) headers['if-range'] = this.validator;
    }
    for (let hop = 0; ; hop++) {
      assertHttps(this.currentUrl, this.url, this.options.allowLoopbackHttp);
      let response: Response;
      try {
        response = (await request(this.currentUrl, { method: 'GET', dispatcher, signal: this.signal, headers })) as Response;
      } catch (error) {
        throw networkError(this.currentUrl, error);
      }
      const status = response.statusCode;
      const location = header(response.headers, 'location');
      if (status >= 300 && status < 400 && location) {
        await response.body.dump().catch(() => undefined);
        if (hop >= (this.options.maxRedirects ?? 10)) throw tooManyRedirects(this.url);
        this.currentUrl = new URL(location, this.currentUrl).toString();
        continue;
      }
      if (status === 200) {
        const length = header(response.headers, 'content-length');
        const size = length === undefined ? undefined : Number(length);
        if (this.total !== undefined && size !== undefined && size !== this.total) {
          await response.body.dump().catch(() => undefined);
          throw changedError(this.url, `size changed from ${this.total} to ${size} between attempts`);
        }
        const validator = strongValidator(response.headers);
        if (this.validator !== undefined && validator !== undefined && validator !== this.validator) {
          await response.body.dump().catch(() => undefined);
          throw changedError(this.url, `its validator changed from ${this.validator} to ${validator}`);
        }
        this.total ??= size;
        this.validator ??= strongValidator(response.headers);
        // Server ignored our Range (or this is the first attempt): skip what we already have.
        return { response, skip: this.offset };
      }
      if (status === 206) {
        const range = parseContentRange(header(response.headers, 'content-range'));
        if (!range || range.start !== this.offset || (this.total !== undefined && range.total !== undefined && range.total !== this.total)) {
          await response.body.dump().catch(() => undefined);
          // A 206 we cannot line up with what we have: from now on ask for the
          // whole body and skip what was already delivered.
          this.rangeUnusable = true;
          throw Object.assign(new Error(`unusable Content-Range "${header(response.headers, 'content-range') ?? ''}"`), {
            code: 'INGOT_BAD_RANGE',
            retryable: true,
          });
        }
        this.total ??= range.total;
        return { response, skip: 0 };
      }
      await response.body.dump().catch(() => undefined);
      if (status === 416 && this.total !== undefined && this.offset === this.total) {
        return { response: emptyResponse(), skip: 0 };
      }
      throw statusError(this.currentUrl, status, header(response.headers, 'retry-after'));
    }
  }

  async backoff(error: unknown): Promise<void> {
    if (this.signal?.aborted) throw this.signal.reason ?? error;
    const retryable = isRetryable(error);
    this.failuresWithoutProgress++;
    const retries = this.limits.retries;
    if (!retryable || this.failuresWithoutProgress > retries || this.attempt >= MAX_ATTEMPTS) {
      throw finalError(this.url, error, retryable ? this.attempt : undefined, this.limits);
    }
    const base = this.options.retryBaseMs ?? 500;
    const cap = this.options.retryMaxMs ?? 30_000;
    const exponential = Math.min(cap, base * 2 ** (this.failuresWithoutProgress - 1));
    const retryAfter = (error as { retryAfterMs?: number }).retryAfterMs;
    // Full jitter on our own backoff; a server's Retry-After is honoured as given (capped).
    const delayMs = retryAfter !== undefined ? Math.min(cap, retryAfter) : Math.round(exponential / 2 + Math.random() * (exponential / 2));
    this.options.onRetry?.({ url: this.url, attempt: this.attempt, delayMs, reason: describe(error), offset: this.offset });
    await sleep(delayMs, undefined, { signal: this.signal });
  }
}

function baseHeaders(options: HttpOptions): Record<string, string> {
  return { 'user-agent': options.userAgent ?? 'ingot' };
}

function header(headers: Response['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function strongValidator(headers: Response['headers']): string | undefined {
  const etag = header(headers, 'etag');
  if (etag && !etag.startsWith('W/')) return etag;
  return header(headers, 'last-modified');
}

/** Parses "bytes START-END/TOTAL" (TOTAL may be "*"). */
export function parseContentRange(value: string | undefined): { start: number; end: number; total: number | undefined } | undefined {
  const match = value ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value.trim()) : null;
  if (!match) return undefined;
  const start = Number(match[1]);
  const end = Number(match[2]);
  const total = match[3] === '*' ? undefined : Number(match[3]);
  if (end < start || (total !== undefined && end >= total)) return undefined;
  return { start, end, total };
}

/** Retry-After: delta-seconds or an HTTP date, in ms from now. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export { isLoopbackHost };

function assertHttps(current: string, original: string, allowLoopbackHttp = false): void {
  let parsed: URL;
  try {
    parsed = new URL(current);
  } catch {
    throw new IngotError(ErrorCode.httpInsecure, `not a valid URL: ${current}`, { url: original, exitCode: ExitCode.usage });
  }
  const protocol = parsed.protocol;
  if (protocol === 'http:' && allowLoopbackHttp && isLoopbackHost(parsed.hostname)) return;
  if (protocol !== 'https:') {
    const redirected = current !== original;
    throw new IngotError(
      ErrorCode.httpInsecure,
      redirected ? `refusing a redirect from https to ${protocol.slice(0, -1)}: ${current}` : `refusing a non-https URL: ${current}`,
      { url: original, hint: redirected ? 'the server downgrades to plain http; ask its owner to fix it or use another mirror' : 'use an https:// URL' },
    );
  }
}

function isRetryable(error: unknown): boolean {
  if (error instanceof IngotError) return error.details?.retryable === true;
  const e = error as { code?: string; retryable?: boolean; cause?: { code?: string } } | undefined;
  if (e?.retryable) return true;
  const code = e?.code ?? e?.cause?.code;
  return code !== undefined && RETRYABLE_CODES.has(code);
}

function describe(error: unknown): string {
  if (error instanceof IngotError) return error.message;
  const e = error as { code?: string; message?: string };
  return e?.code ? `${e.code}: ${e.message ?? ''}`.trim() : String(e?.message ?? error);
}

function statusError(url: string, status: number, retryAfter: string | undefined): IngotError {
  const retryable = RETRYABLE_STATUS.has(status);
  const hint =
    status === 404 || status === 410
      ? 'check the URL; the publisher may have moved or removed the file'
      : status === 401 || status === 403
        ? 'the server refuses access; the URL may need a token or may have expired'
        : retryable
          ? 'the server is overloaded or failing; try again later'
          : undefined;
  const error = new IngotError(ErrorCode.httpStatus, `HTTP ${status} from ${url}`, {
    url,
    hint,
    details: { status, retryable },
  });
  const delay = parseRetryAfter(retryAfter);
  if (delay !== undefined) (error as { retryAfterMs?: number }).retryAfterMs = delay;
  return error;
}

function networkError(url: string, error: unknown): Error {
  if (error instanceof IngotError) return error;
  const e = error as Error & { code?: string };
  if (e?.name === 'AbortError' || e?.code === 'ABORT_ERR') return e;
  const wrapped = Object.assign(new Error(`${e?.code ?? 'network error'}: ${e?.message ?? String(error)} (${url})`), {
    code: e?.code,
    cause: error,
  });
  return wrapped;
}

function finalError(url: string, error: unknown, attempts: number | undefined, limits: Limits): Error {
  const e = error as Error & { name?: string; code?: string };
  if (e?.name === 'AbortError' || e?.code === 'ABORT_ERR') return e;
  const after = attempts ? ` after ${attempts} attempts` : '';
  if (error instanceof IngotError) {
    if (!after) return error;
    return new IngotError(error.code, `${error.message}${after}`, { url, hint: error.hint, cause: error, details: error.details });
  }
  const code = codeOf(error);
  if (code !== undefined && TIMEOUT_CODES.has(code)) {
    const what =
      code === 'UND_ERR_CONNECT_TIMEOUT'
        ? `could not connect (TCP and TLS) within ${seconds(limits.connectTimeoutMs)}`
        : code === 'UND_ERR_HEADERS_TIMEOUT'
          ? `no response headers within ${seconds(limits.headersTimeoutMs)}`
          : code === 'UND_ERR_BODY_TIMEOUT'
            ? `the server sent nothing for ${seconds(limits.idleTimeoutMs)}`
            : e.message;
    const flag =
      { UND_ERR_CONNECT_TIMEOUT: '--connect-timeout', UND_ERR_HEADERS_TIMEOUT: '--headers-timeout', UND_ERR_BODY_TIMEOUT: '--idle-timeout' }[code] ??
      '--min-speed/--min-speed-time';
    return new IngotError(ErrorCode.httpTimeout, `download timed out${after}: ${what}: ${url}`, {
      url,
      cause: error,
      details: { reason: code },
      hint: `the server or the network is stalled; try again later or another mirror (if the server is only slow, raise ${flag})`,
    });
  }
  const tls = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(e?.code ?? '') || /certificate/i.test(e?.message ?? '');
  return new IngotError(ErrorCode.httpNetwork, `download failed${after}: ${describe(error)}`, {
    url,
    cause: error,
    hint: tls
      ? 'the server certificate is not trusted; for a private CA set NODE_EXTRA_CA_CERTS=/path/to/ca.pem'
      : 'check the network, the proxy (HTTPS_PROXY/NO_PROXY) and the URL, then re-run',
  });
}

function changedError(url: string, why: string): IngotError {
  return new IngotError(ErrorCode.httpNetwork, `the remote file changed during the download: ${why}`, {
    url,
    details: { retryable: false },
    hint: 're-run the sync; if it keeps happening the mirror is being updated',
  });
}

function tooManyRedirects(url: string): IngotError {
  return new IngotError(ErrorCode.httpStatus, `too many redirects: ${url}`, { url });
}

function emptyResponse(): Response {
  const body = Object.assign((async function* () {})() as AsyncIterable<Buffer>, { dump: async () => undefined, destroy: () => undefined });
  return { statusCode: 206, headers: {}, body };
}

function codeOf(error: unknown): string | undefined {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}

/** "30s", "1.5s" */
function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(ms < 10_000 ? 1 : 0))}s`;
}

function formatRate(bytesPerSecond: number): string {
  return bytesPerSecond >= 1024 ? `${(bytesPerSecond / 1024).toFixed(1)} KiB/s` : `${Math.round(bytesPerSecond)} B/s`;
}

/**
 * The minimum transfer rate (curl's --speed-limit / --speed-time): every
 * tick, the bytes of the last `windowMs` are compared with `minSpeed`; a
 * whole window below it calls `onSlow` once. A silent server trips it too.
 *
 * Only time spent waiting for the server counts: while ingot itself is busy
 * (the consumer applies backpressure — a slow disk or a part upload to S3)
 * the clock stops, as undici's body timeout does when the body is paused.
 */
export class SpeedGuard {
  #bytes = 0;
  /** Waiting time accumulated before the current wait, ms. */
  #waited = 0;
  #waitingSince: number | undefined;
  #samples: { waited: number; bytes: number }[] = [{ waited: 0, bytes: 0 }];
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly minSpeed: number,
    private readonly windowMs: number,
    private readonly onSlow: (rate: number) => void,
    private readonly now: () => number = Date.now,
    tick = true,
  ) {
    this.#waitingSince = now();
    if (tick) {
      this.#timer = setInterval(() => this.check(), Math.min(1000, Math.max(50, windowMs / 4)));
      this.#timer.unref();
    }
  }

  /** Bytes arrived; the wait for them is over. */
  add(n: number): void {
    this.#bytes += n;
    this.#stopWaiting();
  }

  /** Waiting for the server again (the consumer asked for more). */
  waiting(): void {
    this.#waitingSince ??= this.now();
  }

  #stopWaiting(): void {
    if (this.#waitingSince === undefined) return;
    this.#waited += this.now() - this.#waitingSince;
    this.#waitingSince = undefined;
  }

  /** One tick; public for tests. */
  check(): void {
    const waited = this.#waited + (this.#waitingSince === undefined ? 0 : this.now() - this.#waitingSince);
    this.#samples.push({ waited, bytes: this.#bytes });
    // Keep as the base the newest sample at least a window (of waiting) old.
    while (this.#samples.length > 1 && waited - this.#samples[1]!.waited >= this.windowMs) this.#samples.shift();
    const base = this.#samples[0]!;
    const span = waited - base.waited;
    if (span < this.windowMs) return;
    const rate = ((this.#bytes - base.bytes) * 1000) / span;
    if (rate < this.minSpeed) {
      this.stop();
      this.onSlow(rate);
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
