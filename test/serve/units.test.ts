// The pure parts of serve: routing (traversal refused), conditional and range decisions, log lines, escaping, iPXE scripts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseListen } from '../../src/cli/commands/serve.js';
import { combinedLogLine } from '../../src/serve/access-log.js';
import { decide, parseRange } from '../../src/serve/conditional.js';
import { renderFleet } from '../../src/serve/fleet.js';
import { escapeHtml, html, safeHref } from '../../src/serve/html.js';
import { renderIpxeScript } from '../../src/serve/ipxe.js';
import { route } from '../../src/serve/routes.js';
import { openHttpBackend } from '../../src/store/http-backend.js';

describe('routes', () => {
  it('serves the page, the API, iPXE scripts and keys under the served prefixes', () => {
    assert.deepEqual(route('/'), { kind: 'page' });
    assert.deepEqual(route('/api/v1/catalogue'), { kind: 'api-catalogue' });
    assert.deepEqual(route('/api/v1/objects?prefix=metadata/'), { kind: 'api-objects', prefix: 'metadata/' });
    assert.deepEqual(route('/boot/lab.ipxe'), { kind: 'ipxe', set: 'lab' });
    assert.deepEqual(route('/images/talos/a%20b.raw?x=1'), { kind: 'object', key: 'images/talos/a b.raw', served: true });
    assert.deepEqual(route('/index.json.minisig'), { kind: 'object', key: 'index.json.minisig', served: true });
    // Outside the served prefixes: only if it is a published image key (decided by the server).
    assert.deepEqual(route('/isos/x.iso'), { kind: 'object', key: 'isos/x.iso', served: false });
  });

  const attacks = [
    '/images/../keys/ingot.key',
    '/images/%2e%2e/%2e%2e/etc/passwd',
    '/images/%2E%2E/x',
    '/images/.%2e/x',
    '/images/./x',
    '/images\\..\\x',
    '/images/%5c..%5cx',
    '/images/%5C..%5Cx',
    '//etc/passwd',
    '/images//x',
    '/images/x/',
    '/images/%2F..%2Fx',
    '/images/%2fetc',
    '/images/%00',
    '/images/a%0d%0aSet-Cookie:x',
    '/images/%E0%A4%A',
    'images/x',
    '/api/v1/objects?prefix=../',
    '/api/v1/objects?prefix=a//b',
  ];
  for (const target of attacks) {
    it(`refuses ${JSON.stringify(target)}`, () => {
      const r = route(target);
      assert.equal(r.kind, 'refused', JSON.stringify(r));
    });
  }

  it('never serves internal files, even under a served prefix', () => {
    assert.equal(route('/images/.ingot-tmp-abc-x.raw').kind, 'refused');
    assert.equal(route('/.ingot-lock').kind, 'refused');
    assert.equal(route('/boot/..ipxe').kind, 'refused');
  });
});

describe('conditional and range requests', () => {
  const rep = { size: 1000, etag: '"abc"', lastModified: new Date(Date.UTC(2025, 0, 2)).toUTCString() };
  const get = (h: Record<string, string>) => decide({ method: 'GET', ...h }, rep);

  it('ranges: first-last, open, suffix, clamped, unsatisfiable, ignored', () => {
    assert.deepEqual(parseRange('bytes=0-99', 1000), { start: 0, end: 99 });
    assert.deepEqual(parseRange('bytes=900-', 1000), { start: 900, end: 999 });
    assert.deepEqual(parseRange('bytes=-10', 1000), { start: 990, end: 999 });
    assert.deepEqual(parseRange('bytes=-5000', 1000), { start: 0, end: 999 });
    assert.deepEqual(parseRange('bytes=990-5000', 1000), { start: 990, end: 999 });
    assert.equal(parseRange('bytes=1000-', 1000), 'unsatisfiable');
    assert.equal(parseRange('bytes=-0', 1000), 'unsatisfiable');
    assert.equal(parseRange('bytes=0-', 0), 'unsatisfiable');
    assert.equal(parseRange('bytes=5-1', 1000), 'ignore');
    assert.equal(parseRange('bytes=0-1,5-9', 1000), 'ignore');
    assert.equal(parseRange('items=0-1', 1000), 'ignore');
  });

  it('If-None-Match beats If-Modified-Since; weak comparison for 304', () => {
    assert.deepEqual(get({ ifNoneMatch: '"abc"' }), { status: 304 });
    assert.deepEqual(get({ ifNoneMatch: 'W/"abc"' }), { status: 304 });
    assert.deepEqual(get({ ifNoneMatch: '"x", "abc"' }), { status: 304 });
    assert.deepEqual(get({ ifNoneMatch: '*' }), { status: 304 });
    assert.deepEqual(get({ ifNoneMatch: '"old"', ifModifiedSince: new Date(Date.UTC(2030, 0, 1)).toUTCString() }), { status: 200 });
    assert.deepEqual(get({ ifModifiedSince: new Date(Date.UTC(2030, 0, 1)).toUTCString() }), { status: 304 });
    assert.deepEqual(get({ ifModifiedSince: new Date(Date.UTC(2020, 0, 1)).toUTCString() }), { status: 200 });
  });

  it('If-Range: a strong match keeps the range, anything else sends the whole object', () => {
    assert.deepEqual(get({ range: 'bytes=10-19', ifRange: '"abc"' }), { status: 206, start: 10, end: 19 });
    assert.deepEqual(get({ range: 'bytes=10-19', ifRange: '"old"' }), { status: 200 });
    assert.deepEqual(get({ range: 'bytes=10-19', ifRange: 'W/"abc"' }), { status: 200 });
    assert.deepEqual(get({ range: 'bytes=10-19', ifRange: rep.lastModified }), { status: 206, start: 10, end: 19 });
    assert.deepEqual(get({ range: 'bytes=10-19', ifRange: new Date(Date.UTC(2020, 0, 1)).toUTCString() }), { status: 200 });
  });

  it('If-Match fails with 412; HEAD ignores Range; 416 past the end', () => {
    assert.deepEqual(get({ ifMatch: '"other"' }), { status: 412 });
    assert.deepEqual(get({ ifMatch: '"abc"', range: 'bytes=0-0' }), { status: 206, start: 0, end: 0 });
    assert.deepEqual(decide({ method: 'HEAD', range: 'bytes=0-0' }, rep), { status: 200 });
    assert.deepEqual(get({ range: 'bytes=1000-1001' }), { status: 416 });
  });
});

describe('access log', () => {
  it('writes the combined format and escapes what clients send', () => {
    const line = combinedLogLine({
      remote: '127.0.0.1',
      time: new Date(Date.UTC(2025, 9, 10, 13, 55, 36)),
      method: 'GET',
      target: '/images/a.raw',
      httpVersion: '1.1',
      status: 206,
      bytes: 1024,
      userAgent: 'evil"\n127.0.0.1 - - [forged] "GET / HTTP/1.1" 200 1',
    });
    assert.equal(
      line,
      '127.0.0.1 - - [10/Oct/2025:13:55:36 +0000] "GET /images/a.raw HTTP/1.1" 206 1024 "-" "evil\\"\\x0a127.0.0.1 - - [forged] \\"GET / HTTP/1.1\\" 200 1"',
    );
    assert.ok(!line.includes('\n'));
    assert.match(
      combinedLogLine({ remote: '::1', time: new Date(0), method: 'HEAD', target: '/', httpVersion: '1.1', status: 304, bytes: 0 }),
      / 304 - "-" "-"$/,
    );
  });
});

describe('escaping', () => {
  it('escapes interpolations and keeps nested html', () => {
    const name = '<img src=x onerror="alert(1)">&\'`';
    assert.equal(
      html`<td title="${name}">${name}</td>`.value,
      '<td title="&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;&#96;">&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;&#96;</td>',
    );
    assert.equal(html`<p>${[html`<b>${'<i>'}</b>`, 'x']}</p>`.value, '<p><b>&lt;i&gt;</b>x</p>');
    assert.equal(escapeHtml('a\u0000b'), 'a\ufffdb');
    assert.equal(safeHref('javascript:alert(1)'), '#');
    assert.equal(safeHref(' JAVASCRIPT:alert(1)'), '#');
    assert.equal(safeHref('https://example.org/a'), 'https://example.org/a');
    assert.equal(safeHref('/images/a'), '/images/a');
  });

  it('renders the fleet section from data, escaped, and nothing without data', () => {
    assert.equal(renderFleet(undefined).value, '');
    const out = renderFleet({
      source: 'http://prometheus:9090',
      at: '2025-01-01T00:00:00Z',
      versions: [
        { family: 'talos', version: '1.9.1', hosts: 30 },
        { family: 'talos', version: '<1.10.0>', hosts: 10 },
      ],
      boots: [{ family: 'talos', version: '1.9.1', success: 95, failure: 5 }],
    }).value;
    assert.match(out, /&lt;1\.10\.0&gt;/);
    assert.match(out, /width:33%/);
    assert.match(out, /95\.0 %/);
    assert.match(renderFleet({ source: 'p', at: '', versions: [], boots: [], error: 'down <now>' }).value, /down &lt;now&gt;/);
  });
});

describe('iPXE script', () => {
  it('boots the kernel and initramfs by URLs relative to the script, keys percent-encoded', () => {
    const script = renderIpxeScript(
      {
        name: 'lab',
        kernel: { key: 'images/boot/vmlinuz ${x}', version: '6.1', sha256: 'a'.repeat(64) },
        initramfs: { key: 'images/boot/initrd.img', version: '1.0', sha256: `sha256:${'b'.repeat(64)}` },
      },
      'console=ttyS0 quiet',
    );
    assert.equal(
      script,
      [
        '#!ipxe',
        '# ingot boot set lab',
        `# kernel 6.1 sha256:${'a'.repeat(64)}`,
        `# initramfs 1.0 sha256:${'b'.repeat(64)}`,
        'echo ingot: booting lab',
        'kernel ../images/boot/vmlinuz%20%24%7Bx%7D initrd=initrd.img console=ttyS0 quiet',
        'initrd --name initrd.img ../images/boot/initrd.img',
        'boot',
        '',
      ].join('\n'),
    );
    assert.throws(
      () => renderIpxeScript({ name: 'x', kernel: { key: 'k', version: '', sha256: '' }, initramfs: { key: 'i', version: '', sha256: '' } }, 'a\nshell'),
      /one line/,
    );
  });
});

describe('listen addresses and http store URLs', () => {
  it('parses --listen', () => {
    assert.deepEqual(parseListen('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseListen('8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseListen(':8080'), { host: '0.0.0.0', port: 8080 });
    assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
    assert.throws(() => parseListen('host:99999'), /--listen/);
    assert.throws(() => parseListen('a:b:c'), /--listen/);
  });

  it('accepts https, and plain http only to loopback', () => {
    assert.equal(openHttpBackend(new URL('https://nas.example/images/')).displayUrl, 'https://nas.example/images/');
    assert.equal(openHttpBackend(new URL('http://127.0.0.1:8080')).displayUrl, 'http://127.0.0.1:8080/');
    assert.equal(openHttpBackend(new URL('http://[::1]:8080/')).kind, 'http');
    assert.throws(
      () => openHttpBackend(new URL('http://10.0.2.2:8080/')),
      (e: Error & { code?: string }) => e.code === 'INGOT_HTTP_INSECURE',
    );
    assert.throws(
      () => openHttpBackend(new URL('https://u:p@nas/')),
      (e: Error & { code?: string }) => e.code === 'INGOT_STORE_URL',
    );
  });
});
