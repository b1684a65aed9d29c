/**
 * The catalogue page: one self-contained HTML document (inline CSS, no
 * scripts, no external requests) rendered from a `Catalogue`. Tables turn
 * into cards on narrow screens; checksums select whole with one tap
 * (`user-select: all`) so they can be copied without JavaScript. Every value
 * from the store goes through `html`, which escapes it.
 */
import { formatBytes } from '../transform/decompress.js';
import { relativePathProblem } from '../store/keys.js';
import type { Catalogue, CatalogueBootSet, CatalogueFamily, CatalogueImage, IndexState } from './catalogue.js';
import { renderFleet, type FleetData } from './fleet.js';
import { html, keyToUrlPath, safeHref, SafeHtml } from './html.js';
import type { SignatureState } from './signatures.js';

/** How the page links to things. */
export interface RenderOptions {
  /** Prefix of object links: "/" under serve, "" (relative) for a static page at the store root, or a URL. */
  objectBase: string;
  /** Link boot sets to their iPXE script (serve only). */
  ipxe: boolean;
  /** Where the JSON API / document lives, relative to the page. */
  apiHref: string;
  /** Optional fleet section (serve --prometheus). */
  fleet?: FleetData;
}

/** The whole page. */
export function renderCataloguePage(cat: Catalogue, options: RenderOptions): string {
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>ingot catalogue — ${cat.store}</title>
<style>${new SafeHtml(STYLE)}</style>
</head>
<body>
<header>
<h1>Image catalogue</h1>
<p class="muted"><span class="store">${cat.store}</span> · ${cat.totals.images} image${cat.totals.images === 1 ? '' : 's'}, ${formatBytes(cat.totals.bytes)} · built <time datetime="${cat.generatedAt}">${shortTime(cat.generatedAt)}</time></p>
${renderIndex(cat.index, cat.publicKeyId)}
${renderNav(cat)}
</header>
<main>
${cat.families.map((f) => renderFamily(f, options))}
${cat.unfamilied.length ? html`<section id="other"><h2>Other images</h2>${renderImages(cat.unfamilied, options)}</section>` : ''}
${cat.bootSets.length ? renderBootSets(cat.bootSets, options) : ''}
${renderFleet(options.fleet)}
${cat.problems.length ? html`<section id="problems"><h2>Problems</h2><ul>${cat.problems.map((p) => html`<li class="bad">${p}</li>`)}</ul></section>` : ''}
</main>
<footer class="muted">The same data as JSON: <a href="${options.apiHref}">${options.apiHref}</a>. Served by ingot.</footer>
</body>
</html>
`;
  return page.value;
}

function renderIndex(index: IndexState, publicKeyId: string | undefined): SafeHtml {
  if (!index.present) {
    return html`<p id="index-state" class="badge bad" data-signature="unsigned">No signed index (index.json): hosts cannot pull from this store.</p>`;
  }
  const sig = index.signature;
  const expiry = index.expires
    ? html` · valid until <time datetime="${index.expires}">${shortTime(index.expires)}</time>${index.expired ? html` <strong class="bad">(expired)</strong>` : ''}`
    : '';
  return html`<p id="index-state" class="badge ${sig.status === 'verified' && !index.expired ? 'good' : sig.status === 'signed' ? 'warn' : 'bad'}" data-signature="${sig.status}">
Index${index.version !== undefined ? html` version <strong>${index.version}</strong>` : ''}: ${signatureWords(sig, publicKeyId)}${expiry}${index.images !== undefined ? html` · ${index.images} entries` : ''}
</p>`;
}

function signatureWords(sig: SignatureState, publicKeyId: string | undefined): SafeHtml {
  const key = sig.keyId ? html` by key <code class="keyid">${sig.keyId}</code>` : '';
  switch (sig.status) {
    case 'verified':
      return html`<strong>signed</strong>${key}, <strong>verified</strong> ✓`;
    case 'signed':
      return html`<strong>signed</strong>${key}, not verified here (no public key given)`;
    case 'unsigned':
      return html`<strong>not signed</strong>`;
    case 'invalid':
      return html`<strong>signature INVALID</strong>${key}${publicKeyId ? html` (checked with ${publicKeyId})` : ''}: ${sig.problem ?? ''}`;
  }
}

function renderNav(cat: Catalogue): SafeHtml {
  const links = [
    ...cat.families.map((f) => html`<a href="#family-${anchor(f.name)}">${f.name}</a>`),
    ...(cat.unfamilied.length ? [html`<a href="#other">other</a>`] : []),
    ...(cat.bootSets.length ? [html`<a href="#boot-sets">boot sets</a>`] : []),
  ];
  return links.length ? html`<nav>${links}</nav>` : html``;
}

function renderFamily(family: CatalogueFamily, options: RenderOptions): SafeHtml {
  const file = family.channelFile;
  return html`<section class="family" id="family-${anchor(family.name)}" data-family="${family.name}">
<h2>${family.name}</h2>
${
  family.channels.length
    ? html`<h3>Channels${file ? html` <span class="muted">(sequence ${file.sequence}, ${sigBadge(file.signature)})</span>` : ''}</h3>
<table class="cards channels"><thead><tr><th>Channel</th><th>Version</th><th>Since</th><th>History</th></tr></thead><tbody>
${family.channels.map(
  (
    c,
  ) => html`<tr data-channel="${c.name}"><td data-label="Channel"><strong>${c.name}</strong></td><td data-label="Version">${c.current.version || c.current.path}${c.current.rollout !== undefined ? html` <span class="chip rollout">rollout ${c.current.rollout} %</span>` : ''}</td>
<td data-label="Since"><time datetime="${c.current.setAt}">${shortTime(c.current.setAt)}</time></td>
<td data-label="History"><details><summary>${c.history.length} move${c.history.length === 1 ? '' : 's'}</summary><ol class="history">${c.history.map(
    (h) =>
      html`<li>${h.action === 'rollback' ? 'rolled back to' : 'set to'} <strong>${h.version || h.path}</strong>${h.rollout !== undefined ? ` for ${h.rollout} %` : ''} <time datetime="${h.setAt}">${shortTime(h.setAt)}</time>${h.reason ? html` <span class="muted">(${h.reason})</span>` : ''}</li>`,
  )}</ol></details></td></tr>`,
)}
</tbody></table>`
    : ''
}
${family.images.length ? html`<h3>Versions</h3>${renderImages(family.images, options, family)}` : html`<p class="muted">No published versions.</p>`}
</section>`;
}

function renderImages(images: CatalogueImage[], options: RenderOptions, family?: CatalogueFamily): SafeHtml {
  return html`<table class="cards images"><thead><tr><th>Version</th><th>Image</th><th>Size</th><th>Checksum</th><th>Uploaded</th><th>Source</th><th>Index</th></tr></thead><tbody>
${images.map((i) => {
  const channels = family?.channels.filter((c) => c.current.path === i.path).map((c) => c.name) ?? [];
  return html`<tr data-path="${i.path}">
<td data-label="Version"><strong>${i.version ?? '–'}</strong>${channels.map((c) => html` <span class="chip">${c}</span>`)}</td>
<td data-label="Image">${objectLink(i.key, i.name, options)}<br><span class="muted small">${i.path}</span></td>
<td data-label="Size" class="num">${formatBytes(i.size)}</td>
<td data-label="Checksum"><code class="digest" title="tap to select, then copy">${i.checksum}</code>${i.sha256 !== i.checksum ? html`<br><code class="digest">${i.sha256}</code>` : ''}</td>
<td data-label="Uploaded">${i.uploadedAt ? html`<time datetime="${i.uploadedAt}">${shortTime(i.uploadedAt)}</time>` : '–'}</td>
<td data-label="Source">${renderSource(i)}</td>
<td data-label="Index" class="${i.index === 'listed' ? 'good' : i.index === 'no-index' ? 'muted' : 'bad'}" data-index="${i.index}">${INDEX_WORDS[i.index]}</td>
</tr>`;
})}
</tbody></table>`;
}

const INDEX_WORDS: Record<CatalogueImage['index'], string> = {
  listed: 'in the index',
  differs: 'index differs!',
  absent: 'not in the index',
  'no-index': '–',
};

function renderSource(i: CatalogueImage): SafeHtml {
  const s = i.source;
  const url = typeof s.url === 'string' ? s.url : undefined;
  const facts = Object.entries(s)
    .filter(([k, v]) => !['type', 'url', 'checksum'].includes(k) && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'))
    .slice(0, 6);
  return html`<span class="chip">${String(s.type ?? 'unknown')}</span>${url ? html` <a class="small src" href="${safeHref(url)}" rel="noreferrer nofollow">${url}</a>` : ''}
${facts.length ? html`<br><span class="muted small">${facts.map(([k, v], n) => html`${n ? ', ' : ''}${k}: ${String(v)}`)}</span>` : ''}`;
}

function renderBootSets(sets: CatalogueBootSet[], options: RenderOptions): SafeHtml {
  return html`<section id="boot-sets"><h2>Boot sets</h2>
<table class="cards boot"><thead><tr><th>Boot set</th><th>Kernel</th><th>Initramfs</th><th>Signature</th><th>Links</th></tr></thead><tbody>
${sets.map(
  (b) => html`<tr data-boot-set="${b.name}"><td data-label="Boot set"><strong>${b.name}</strong></td>
<td data-label="Kernel">${b.kernel.version} <span class="muted">(${b.kernel.buildId})</span><br>${bootImage(b.kernel.image, options)}<code class="digest">${b.kernel.sha256}</code></td>
<td data-label="Initramfs">${b.initramfs.version} <span class="muted">(${b.initramfs.buildId}${b.initramfs.guestInitProtocol !== undefined ? html`, protocol ${b.initramfs.guestInitProtocol}` : ''})</span><br>${bootImage(b.initramfs.image, options)}<code class="digest">${b.initramfs.sha256}</code></td>
<td data-label="Signature">${sigBadge(b.signature)}</td>
<td data-label="Links">${objectLink(b.key, 'manifest', options)}${options.ipxe ? html` · <a href="${options.objectBase}boot/${encodeURIComponent(b.name)}.ipxe">iPXE script</a>` : ''}</td></tr>`,
)}
</tbody></table></section>`;
}

function bootImage(image: CatalogueBootSet['kernel']['image'], options: RenderOptions): SafeHtml {
  return image
    ? html`${objectLink(image.key, image.name, options)} <span class="muted">${formatBytes(image.size)}</span><br>`
    : html`<span class="bad">not in the store</span><br>`;
}

function sigBadge(sig: SignatureState): SafeHtml {
  const words = { verified: 'signature verified', signed: 'signed (not verified)', unsigned: 'unsigned', invalid: 'signature INVALID' }[sig.status];
  return html`<span class="sig ${sig.status === 'verified' ? 'good' : sig.status === 'invalid' ? 'bad' : 'warn'}" data-signature="${sig.status}" title="${sig.problem ?? sig.keyId ?? ''}">${words}${sig.keyId ? html` · ${sig.keyId}` : ''}</span>`;
}

function objectLink(key: string, label: string, options: RenderOptions): SafeHtml {
  // A key that is not a safe relative path (from a hand-edited document) gets no link.
  if (relativePathProblem(key)) return html`${label}`;
  return html`<a href="${safeHref(options.objectBase + keyToUrlPath(key))}">${label}</a>`;
}

function anchor(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '_');
}

function shortTime(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t)
    ? iso
    : new Date(t)
        .toISOString()
        .replace('T', ' ')
        .replace(/:\d\d(\.\d+)?Z$/, ' UTC');
}

const STYLE = `
:root{--fg:#1b1f23;--muted:#59636e;--line:#d0d7de;--bg:#fff;--card:#f6f8fa;--good:#1a7f37;--warn:#9a6700;--bad:#cf222e;--link:#0969da}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--line:#3d444d;--bg:#0d1117;--card:#151b23;--good:#3fb950;--warn:#d29922;--bad:#f85149;--link:#4493f8}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:80rem;padding:1rem;font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--link)}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.25rem;margin:1.8rem 0 .5rem;border-bottom:1px solid var(--line)}h3{font-size:1rem;margin:1rem 0 .4rem}
.muted{color:var(--muted)}.small{font-size:.85em}.good{color:var(--good)}.warn{color:var(--warn)}.bad{color:var(--bad)}
.store{font-family:ui-monospace,monospace;word-break:break-all}
.badge{padding:.5rem .7rem;border:1px solid currentColor;border-radius:6px}
nav{display:flex;flex-wrap:wrap;gap:.4rem .9rem;margin:.8rem 0}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid var(--line)}
th{font-size:.85em;color:var(--muted);font-weight:600}
td.num{white-space:nowrap}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.82em}
code.digest{user-select:all;-webkit-user-select:all;word-break:break-all;background:var(--card);padding:.05rem .25rem;border-radius:4px;cursor:copy}
.chip{display:inline-block;font-size:.75em;padding:0 .4rem;border:1px solid var(--line);border-radius:1rem;background:var(--card)}
.src{word-break:break-all}
details summary{cursor:pointer}ol.history{margin:.3rem 0;padding-left:1.3rem}
.barcell{width:35%}.bar{display:inline-block;height:.8rem;background:var(--link);border-radius:2px}.bar.ok{background:var(--good)}
footer{margin-top:2rem;font-size:.85em}
@media (max-width:720px){
 table.cards thead{display:none}
 table.cards,table.cards tbody,table.cards tr,table.cards td{display:block;width:100%}
 table.cards tr{border:1px solid var(--line);border-radius:8px;margin:.6rem 0;padding:.3rem .5rem;background:var(--card)}
 table.cards td{border:0;padding:.15rem 0}
 table.cards td[data-label]{position:relative;padding-left:6rem;min-height:1.4em}
 table.cards td[data-label]::before{content:attr(data-label);position:absolute;left:0;top:.3rem;width:5.5rem;font-size:.72em;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}
 .barcell{width:100%}
}
`;
