/**
 * The catalogue in a real browser: Debian's headless Chromium loads the page
 * of a store with several families, channels and a signed index. The test
 * reads the rendered DOM (--dump-dom) for versions, checksums, channels and
 * the signature verdict, checks that hostile names stay text, and saves
 * screenshots (desktop and phone width) under test/.work/serve/.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { run } from '../../src/exec/run.js';
import { keyIdHex } from '../../src/trust/minisign-format.js';
import { runCli } from '../helpers/fixtures.js';
import { needTool } from '../helpers/tools.js';
import { artefactDir, catalogueStore } from './fixtures.js';
import { startServe } from './serve-process.js';

const cleanups: (() => Promise<void>)[] = [];
const t = { after: (fn: () => Promise<void>) => void cleanups.push(fn) };
after(async () => {
  for (const fn of cleanups) await fn();
});

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Runs Chromium once with a fresh profile; returns stdout. */
async function chromium(bin: string, args: string[]): Promise<string> {
  const profile = await fs.mkdtemp(path.join(os.tmpdir(), 'ingot-chromium-'));
  try {
    const result = await run(bin, [...FLAGS, `--user-data-dir=${profile}`, ...args], { timeoutMs: 120_000, maxBuffer: 16 << 20 });
    return result.stdout;
  } finally {
    await fs.rm(profile, { recursive: true, force: true });
  }
}

function needChromium(tc: TestContext): string | undefined {
  return needTool(tc, 'chromium');
}

describe('the catalogue in headless Chromium', { concurrency: false }, () => {
  it('shows versions, checksums, channels, boot sets and the verified signature; hostile names stay text', async (tc) => {
    const bin = needChromium(tc);
    if (!bin) return;
    const fx = await catalogueStore(t);
    const serve = await startServe(['--store', path.join(fx.dir, 'store'), '--public-key', fx.publicKeyFile]);
    try {
      const dom = await chromium(bin, ['--dump-dom', serve.url]);
      const out = await artefactDir('serve');
      await fs.writeFile(path.join(out, 'catalogue.dom.html'), dom);

      // The signed index: verified, with its key id and expiry.
      const state = /<p id="index-state"[^>]*data-signature="([a-z]+)"[^>]*>([\s\S]*?)<\/p>/.exec(dom);
      assert.ok(state, 'the index state is on the page');
      assert.equal(state[1], 'verified');
      assert.match(state[2]!, new RegExp(keyIdHex(fx.key.keyId)));
      assert.match(state[2]!, /valid until/);
      // Every version and every checksum, as text.
      for (const [p, meta] of fx.published) {
        assert.ok(dom.includes(meta.checksum), `checksum of ${p}`);
        assert.ok(dom.includes(`data-path="${p}"`), `row of ${p}`);
        if (meta.version && !/[<&"]/.test(meta.version)) assert.ok(dom.includes(`<strong>${meta.version}</strong>`), `version ${meta.version}`);
      }
      assert.ok(dom.includes('class="digest"'), 'checksums are marked for one-tap selection');
      // Channels after set/set/set/rollback: stable is back on 1.9.1 with four moves.
      const stable = /<tr data-channel="stable">([\s\S]*?)<\/tr>/.exec(dom.slice(dom.indexOf('data-family="talos"')))?.[1] ?? '';
      assert.match(stable, /<td data-label="Version">1\.9\.1<\/td>/);
      assert.match(stable, /4 moves/);
      assert.match(stable, /rolled back to <strong>1\.9\.1<\/strong>/);
      // The boot set, its verified signature and its iPXE link.
      const boot = /<tr data-boot-set="lab">([\s\S]*?)<\/tr>/.exec(dom)?.[1] ?? '';
      assert.match(boot, /data-signature="verified"/);
      assert.match(boot, /href="\/boot\/lab\.ipxe"/);
      // The hostile image name is shown as text: no element was made of it, and nothing ran.
      assert.ok(dom.includes('&lt;img src=x onerror="document.title=\'pwned\'"&gt;odd'), 'the name is escaped text');
      assert.ok(!/<img/i.test(dom), 'no <img> element');
      assert.ok(!/<script/i.test(dom), 'no script at all');
      assert.match(dom, /<title>ingot catalogue — [^<]*<\/title>/);
      assert.ok(dom.includes('1.0 "beta" &amp; &lt;b&gt;'), 'the odd version is text');

      const desktop = path.join(out, 'catalogue-desktop.png');
      const phone = path.join(out, 'catalogue-phone.png');
      await chromium(bin, [`--screenshot=${desktop}`, '--window-size=1280,2000', '--hide-scrollbars', serve.url]);
      await chromium(bin, [`--screenshot=${phone}`, '--window-size=390,2400', '--hide-scrollbars', serve.url]);
      for (const file of [desktop, phone]) {
        const png = await fs.readFile(file);
        assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG', file);
        assert.ok(png.length > 20_000, `${file} has content (${png.length} bytes)`);
      }
      tc.diagnostic(`screenshots: ${desktop}, ${phone}`);
    } finally {
      await serve.stop();
    }
  });

  it('shows "signed, not verified" without a key, and INVALID for a tampered index (static catalogue from file://)', async (tc) => {
    const bin = needChromium(tc);
    if (!bin) return;
    const fx = await catalogueStore(t);
    const root = path.join(fx.dir, 'store');
    const unverified = path.join(fx.dir, 'site-unverified');
    assert.equal((await runCli(['catalogue', '--store', root, '--out', unverified])).code, 0);
    const dom1 = await chromium(bin, ['--dump-dom', `file://${unverified}/index.html`]);
    assert.match(dom1, /id="index-state"[^>]*data-signature="signed"/);
    assert.match(dom1, /not verified here \(no public key given\)/);

    // Someone edits the index after signing: the verdict says so, and no entry is trusted.
    const index = JSON.parse(await fs.readFile(path.join(root, 'index.json'), 'utf8')) as { expires: string };
    index.expires = '2099-01-01T00:00:00.000Z';
    await fs.writeFile(path.join(root, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
    const tampered = path.join(fx.dir, 'site-tampered');
    const r = await runCli(['catalogue', '--store', root, '--out', tampered, '--public-key', fx.publicKeyFile, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(JSON.parse(r.stdout).index, /invalid/);
    const dom2 = await chromium(bin, ['--dump-dom', `file://${tampered}/index.html`]);
    assert.match(dom2, /id="index-state"[^>]*data-signature="invalid"/);
    assert.match(dom2, /signature INVALID/);
    assert.match(dom2, /data-index="no-index"/, 'images are not marked as listed by an index that does not verify');
    // Object links are relative to the page, for a page written into the store root.
    assert.match(dom2, /href="images\/talos\/talos-1\.9\.1-amd64\.raw"/);
    await fs.copyFile(path.join(tampered, 'index.html'), path.join(await artefactDir('serve'), 'catalogue-tampered.dom.html'));
  });
});
