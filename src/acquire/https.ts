/** The `https` source (alias `http`; the URL must still be https). */
import { z } from 'zod';
import { ProblemCode } from '../manifest/problems.js';
import { COMPRESSIONS, formatBytes } from '../transform/decompress.js';
import { download, type HttpOptions } from './http-client.js';
import type { Logger } from '../log/logger.js';
import type { BaseSource, SourceDriver } from './source.js';

export const httpsSourceSchema = z
  .strictObject({
    type: z.enum(['https', 'http']).describe('Download over HTTPS. "http" is accepted as a synonym; the URL must still be https://.'),
    url: z.string().describe('https:// URL of the file.'),
    checksum: z.string().optional().describe('Digest of the downloaded bytes, "sha256:<hex>" or "sha512:<hex>". Required.'),
    decompress: z.enum(COMPRESSIONS).optional().describe('Decompress after download: xz, gzip or zstd. Requires validation.expected.'),
    maxDecompressedSize: z
      .union([z.number().int().positive(), z.string()])
      .optional()
      .describe('Cap on the decompressed size (bytes or "64GiB"); overrides spec.defaults.maxDecompressedSize.'),
  })
  .describe('An image downloaded over HTTPS.');

export type HttpsSource = z.infer<typeof httpsSourceSchema> & BaseSource;

export const httpsDriver: SourceDriver<HttpsSource> = {
  types: ['https', 'http'],
  schema: httpsSourceSchema as z.ZodType<HttpsSource>,

  rules(source, ctx) {
    let url: URL | undefined;
    try {
      url = new URL(source.url);
    } catch {
      ctx.report({ code: ProblemCode.notHttps, at: ['url'], message: `not a valid URL: "${source.url}"`, hint: 'use an absolute https:// URL' });
    }
    if (url && url.protocol !== 'https:') {
      ctx.report({
        code: ProblemCode.notHttps,
        at: ['url'],
        message: `expected an https:// URL, got ${url.protocol}//…`,
        hint: `downloads must use https; try "https://${url.host}${url.pathname}"`,
      });
    }
    if (url && (url.username || url.password)) {
      ctx.report({ code: ProblemCode.notHttps, at: ['url'], message: 'credentials in the URL are not allowed', hint: 'remove user:password@ from the URL' });
    }
  },

  describe(source) {
    return { type: 'https', url: source.url, ...(source.decompress ? { decompress: source.decompress } : {}) };
  },

  async open(source, ctx) {
    const result = await download(source.url, loggedHttp(ctx.http, ctx.log), ctx.signal);
    return { stream: result.body, size: result.size, facts: this.describe(source) };
  },
};

/**
 * `options` whose downloads say in the log when they retry and when they
 * split over ranged connections (and still call `options`' own hooks).
 * `withUrl` adds the URL to each line: where one logger sees many objects
 * (an HTTP store's reads), the line must say which one.
 */
export function loggedHttp(options: HttpOptions, log: Logger, withUrl = false): HttpOptions {
  const where = (url: string) => (withUrl ? { url } : {});
  return {
    ...options,
    onRetry: (event) => {
      log.warn(`retrying in ${event.delayMs} ms: ${event.reason}`, { step: 'download', attempt: event.attempt, offset: event.offset, ...where(event.url) });
      options.onRetry?.(event);
    },
    onSplit: (event) => {
      log.info(`first connection at ${formatBytes(event.rate)}/s: the rest over ${event.connections} ranged connections`, {
        step: 'download',
        ...where(event.url),
      });
      options.onSplit?.(event);
    },
  };
}
