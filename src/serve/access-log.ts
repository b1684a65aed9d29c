/**
 * The access log in the combined format (Apache's and nginx's default), so
 * the usual tools read it:
 *
 *   127.0.0.1 - - [10/Oct/2025:13:55:36 +0000] "GET /images/a.raw HTTP/1.1" 206 1024 "-" "curl/7.88.1"
 *
 * Quotes, backslashes and non-printable bytes in client-supplied fields are
 * escaped as \" \\ \xHH, so a request cannot forge log lines.
 */

/** One finished (or aborted) request. */
export interface AccessEntry {
  remote: string;
  time: Date;
  method: string;
  target: string;
  httpVersion: string;
  status: number;
  /** Body bytes sent. */
  bytes: number;
  referer?: string;
  userAgent?: string;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Formats one line (no trailing newline). */
export function combinedLogLine(e: AccessEntry): string {
  const t = e.time;
  const pad = (n: number) => String(n).padStart(2, '0');
  const stamp = `${pad(t.getUTCDate())}/${MONTHS[t.getUTCMonth()]}/${t.getUTCFullYear()}:${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${pad(t.getUTCSeconds())} +0000`;
  const quoted = (v: string | undefined) => (v === undefined || v === '' ? '"-"' : `"${escapeField(v)}"`);
  return `${escapeField(e.remote)} - - [${stamp}] ${quoted(`${e.method} ${e.target} HTTP/${e.httpVersion}`)} ${e.status} ${e.bytes > 0 ? e.bytes : '-'} ${quoted(e.referer)} ${quoted(e.userAgent)}`;
}

function escapeField(value: string): string {
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (code < 0x20 || code === 0x7f || code > 0x7e) {
      for (const byte of Buffer.from(ch, 'utf8')) out += `\\x${byte.toString(16).padStart(2, '0')}`;
    } else out += ch;
  }
  return out;
}
