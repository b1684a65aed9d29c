/**
 * Reading the fleet from Prometheus' HTTP API (`/api/v1/query`, instant
 * queries). ingot writes the PromQL itself (shown with --debug); hosts are
 * scraped by Prometheus through node_exporter's textfile collector, so there
 * is no collector of ingot's own.
 *
 * Boots "in the last W" are counted per series as `X - X offset W`, or the
 * whole of X when the series did not exist W ago (a host that booted a new
 * version for the first time), clamped at zero (a host whose cache was wiped
 * restarts its counters). Unlike increase(), this needs no second sample in
 * the window and does not extrapolate: the counts are whole boots.
 */
import { ErrorCode, ExitCode, IngotError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { escapeLabel } from './metrics.js';

/** One series of an instant vector. */
export interface VectorSample {
  metric: Record<string, string>;
  value: number;
}

/** A Prometheus server to query. */
export interface PrometheusClient {
  /** The URL as shown (never with credentials). */
  displayUrl: string;
  query(promql: string, signal?: AbortSignal): Promise<VectorSample[]>;
}

/** A client for `raw` (http:// or https://, optionally with user:password@ for basic auth). */
export function prometheusClient(raw: string, options: { log?: Logger; timeoutMs?: number } = {}): PrometheusClient {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new IngotError(ErrorCode.usage, `--prometheus must be an http:// or https:// URL, got "${raw}"`, {
      exitCode: ExitCode.usage,
      hint: 'e.g. --prometheus http://prometheus:9090',
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new IngotError(ErrorCode.usage, `--prometheus must be an http:// or https:// URL, got "${url.protocol}"`, {
      exitCode: ExitCode.usage,
      hint: 'e.g. --prometheus http://prometheus:9090',
    });
  }
  const auth =
    url.username || url.password
      ? `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`
      : undefined;
  url.username = '';
  url.password = '';
  url.search = '';
  url.hash = '';
  const base = url.toString().replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 30_000;
  return {
    displayUrl: base,
    async query(promql, signal) {
      options.log?.debug('prometheus query', { url: base, query: promql });
      const endpoint = `${base}/api/v1/query?query=${encodeURIComponent(promql)}`;
      const signals = [AbortSignal.timeout(timeoutMs), ...(signal ? [signal] : [])];
      let response: Response;
      try {
        response = await fetch(endpoint, {
          headers: { accept: 'application/json', ...(auth ? { authorization: auth } : {}) },
          signal: AbortSignal.any(signals),
        });
      } catch (error) {
        if (signal?.aborted) throw error;
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        throw new IngotError(ErrorCode.prometheus, `Prometheus at ${base} did not answer: ${cause?.code ?? cause?.message ?? (error as Error).message}`, {
          url: base,
          hint: 'check --prometheus (scheme, host, port) and that Prometheus is running',
          cause: error,
        });
      }
      const text = await response.text();
      let body: { status?: string; error?: string; errorType?: string; data?: { resultType?: string; result?: unknown } };
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        throw new IngotError(ErrorCode.prometheus, `Prometheus at ${base} answered HTTP ${response.status} without JSON`, {
          url: base,
          hint: 'is --prometheus the Prometheus server (not a proxy login page)?',
          actual: text.slice(0, 200),
        });
      }
      if (!response.ok || body.status !== 'success') {
        throw new IngotError(
          ErrorCode.prometheus,
          `Prometheus at ${base} refused the query: ${body.errorType ?? `HTTP ${response.status}`}: ${body.error ?? 'no error text'}`,
          {
            url: base,
            details: { query: promql },
          },
        );
      }
      if (body.data?.resultType !== 'vector' || !Array.isArray(body.data.result)) {
        throw new IngotError(ErrorCode.prometheus, `Prometheus at ${base} answered a ${String(body.data?.resultType)} where a vector was expected`, {
          url: base,
          details: { query: promql },
        });
      }
      return (body.data.result as { metric?: Record<string, string>; value?: [number, string] }[]).map((r) => ({
        metric: r.metric ?? {},
        value: Number(r.value?.[1]),
      }));
    },
  };
}

/** A PromQL string literal (the same escapes as a label value in the exposition). */
export function promString(value: string): string {
  return `"${escapeLabel(value)}"`;
}

/** `metric{a="x",b="y"}` with escaped values. */
export function selector(metric: string, labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}=${promString(v)}`);
  return parts.length ? `${metric}{${parts.join(',')}}` : metric;
}

/** A PromQL duration for a window in milliseconds: "30m", "1h", "90s" (whole seconds, at least 1s). */
export function promDuration(ms: number): string {
  const s = Math.max(1, Math.round(ms / 1000));
  if (s % 86_400 === 0) return `${s / 86_400}d`;
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

/** Per-series growth of counter `sel` over the window, whole counts (see the module comment). */
export function grownWithin(sel: string, windowMs: number): string {
  const w = promDuration(windowMs);
  return `(clamp_min(${sel} - ${sel} offset ${w}, 0) or ${sel})`;
}
