/**
 * HTML built from data, escaped by default. Every name on a catalogue page
 * comes from a store (image names, versions, URLs, trusted comments), so the
 * only way to put text into a page is `html\`…\`` whose interpolations are
 * escaped unless they are already `SafeHtml` (built by `html` itself).
 */

/** A string of HTML that is safe to insert as is. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type Part = SafeHtml | string | number | boolean | undefined | null | readonly Part[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Escapes text for element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  // Control characters other than tab/newline have no business on a page.
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '\ufffd');
}

function render(part: Part): string {
  if (part === undefined || part === null || part === false) return '';
  if (part instanceof SafeHtml) return part.value;
  if (Array.isArray(part)) return part.map(render).join('');
  return escapeHtml(String(part));
}

/** The tagged template: literal parts are trusted, interpolations escaped. */
export function html(strings: TemplateStringsArray, ...values: Part[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return new SafeHtml(out);
}

/** A URL for an href: only relative URLs and http(s) survive; anything else becomes "#". */
export function safeHref(url: string): string {
  const trimmed = url.trim();
  if (/^[a-z][a-z0-9+.-]*:/i.test(trimmed) && !/^https?:/i.test(trimmed)) return '#';
  return trimmed;
}

/** Percent-encodes each "/"-separated segment of a store key for use in a URL path. */
export function keyToUrlPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}
