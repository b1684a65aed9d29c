// Boot sets on hosts, as the guest-init delivery document describes them: `ingot sync` publishes
// signed boot manifests, a host pulls, switches and rolls back kernel + initramfs pairs into
// exactly the document's cache layout, advertises them, and refuses what it cannot run.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { test } from 'node:test';
import { run } from '../../src/exec/run.js';
import { bytesFor, tempDir } from './fixtures.js';
import { sha256 } from '../helpers/fixtures.js';
import { initramfsFile, ingot, kernelFile, NEW, OLD, publisher, type Build } from './boot-fixtures.js';

test("pull, switch and roll back kernel + initramfs pairs in exactly the document's cache layout", async (t) => {
  const root = await tempDir(t, 'ingot-boot-');
  const store = path.join(root, 'store');
  const cache = path.join(root, 'host', 'var', 'lib', 'plfm-agent', 'kernels');
  const pub = await publisher(root, [OLD, NEW]);
  const sync = async () => {
    const result = await ingot(root, 'sync', '--store', store);
    assert.equal(result.code, 0, result.stderr);
  };
  const host = ['--store', store, '--to', cache, '--public-key', path.join(root, 'keys', 'ingot.pub'), '--agent-version', '1.2.0', '--protocol', '1'];

  // Day 1: the cluster default is the older pair.
  await pub.write(OLD);
  await sync();
  const first = await ingot(root, 'pull', '--boot-set', 'default', ...host, '--json');
  assert.equal(first.code, 0, first.stderr);
  assert.equal((JSON.parse(first.stdout) as { status: string }).status, 'pulled');

  // Day 2: set-default is a change of the boot set in Git, then a sync.
  await pub.write(NEW);
  await sync();
  const second = await ingot(root, 'pull', '--boot-set', 'default', ...host);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(
    second.stdout,
    `pulled: boot set default, kernel 6.1.50-20251217a + guestinit-1.0.0-20251217a (pair ${(JSON.parse((await ingot(root, 'cache', 'list', '--cache', cache, '--json')).stdout) as { bootSets: { current: string }[] }).bootSets[0]!.current})\n` +
      'current -> vmlinuz-plfm-6.1.50-20251217a\ncurrent-initramfs -> initramfs-plfm-guestinit-1.0.0-20251217a.img\n',
  );

  // The document's layout, exactly (bookkeeping lives in .ingot/).
  const layout = async () => {
    const out: string[] = [];
    for (const name of (await fs.readdir(cache)).filter((n) => n !== '.ingot').sort()) {
      const stat = await fs.lstat(path.join(cache, name));
      out.push(stat.isSymbolicLink() ? `${name} -> ${await fs.readlink(path.join(cache, name))}` : name);
    }
    return out;
  };
  assert.deepEqual(await layout(), [
    'current -> vmlinuz-plfm-6.1.50-20251217a',
    'current-initramfs -> initramfs-plfm-guestinit-1.0.0-20251217a.img',
    'initramfs-plfm-guestinit-0.9.0-20251201a.img',
    'initramfs-plfm-guestinit-0.9.0-20251201a.img.sha256',
    'initramfs-plfm-guestinit-1.0.0-20251217a.img',
    'initramfs-plfm-guestinit-1.0.0-20251217a.img.sha256',
    'vmlinuz-plfm-6.1.45-20251201a',
    'vmlinuz-plfm-6.1.45-20251201a.sha256',
    'vmlinuz-plfm-6.1.50-20251217a',
    'vmlinuz-plfm-6.1.50-20251217a.sha256',
  ]);
  // The sidecars are what sha256sum -c reads, and the bytes are the published ones.
  const check = await run('sha256sum', ['-c', ...(await fs.readdir(cache)).filter((n) => n.endsWith('.sha256'))], { cwd: cache });
  assert.equal(check.stdout.split('\n').filter((l) => l.endsWith(': OK')).length, 4);
  assert.deepEqual(await fs.readFile(path.join(cache, 'current')), await fs.readFile(path.join(root, 'artifacts', kernelFile(NEW))));

  // The advertisement, in the document's own shape and with its own example values.
  const ad = await ingot(root, 'cache', 'advertise', '--cache', cache, '--json');
  assert.equal(ad.code, 0, ad.stderr);
  assert.deepEqual(JSON.parse(ad.stdout), {
    kernel_versions: ['6.1.50-20251217a', '6.1.45-20251201a'],
    guest_init_protocols: [1],
    current_default: { kernel: '6.1.50-20251217a', initramfs: 'guestinit-1.0.0-20251217a' },
  });

  // The pair pointer names the same pair as the two links, and resolves to the same bytes.
  const pointer = await fs.readlink(path.join(cache, '.ingot', 'pair-current'));
  assert.match(pointer, /^pairs\/[0-9a-f]{16}$/);
  assert.equal(await fs.realpath(path.join(cache, '.ingot', pointer, 'kernel')), path.join(await fs.realpath(cache), kernelFile(NEW)));
  assert.equal(await fs.realpath(path.join(cache, '.ingot', pointer, 'initramfs')), path.join(await fs.realpath(cache), initramfsFile(NEW)));

  // Rollback goes back a pair — both links together — and no further than what is cached.
  const back = await ingot(root, 'cache', 'rollback', '--cache', cache, '--boot-set', 'default');
  assert.equal(back.code, 0, back.stderr);
  assert.match(back.stdout, /kernel 6\.1\.45-20251201a \+ guestinit-0\.9\.0-20251201a/);
  assert.equal(await fs.readlink(path.join(cache, 'current')), kernelFile(OLD));
  assert.equal(await fs.readlink(path.join(cache, 'current-initramfs')), initramfsFile(OLD));
  const adBack = JSON.parse((await ingot(root, 'cache', 'advertise', '--cache', cache, '--json')).stdout) as { current_default: unknown };
  assert.deepEqual(adBack.current_default, { kernel: '6.1.45-20251201a', initramfs: 'guestinit-0.9.0-20251201a' });
  const noMore = await ingot(root, 'cache', 'rollback', '--cache', cache, '--boot-set', 'default');
  assert.equal(noMore.code, 2);
  assert.match(noMore.stderr, /no boot pair older than 6\.1\.45-20251201a/);
  // … and `cache use` picks one by the document's kernel label.
  assert.equal((await ingot(root, 'cache', 'use', '6.1.50-20251217a', '--cache', cache, '--boot-set', 'default')).code, 0);
  assert.equal(await fs.readlink(path.join(cache, 'current')), kernelFile(NEW));

  // A pair's files are the pair's: pulling one as a single image into the same cache is refused.
  const single = await ingot(root, 'pull', `kernels/${kernelFile(OLD)}`, ...host);
  assert.equal(single.code, 1);
  assert.match(single.stderr, /vmlinuz-plfm-6\.1\.45-20251201a is cached as part of a boot pair/);

  // A re-pull of what is current reads nothing and changes nothing.
  const again = await ingot(root, 'pull', '--boot-set', 'default', ...host, '--json');
  assert.equal((JSON.parse(again.stdout) as { status: string }).status, 'cached');

  // `cache list --json`: the documented shape.
  const listed = JSON.parse((await ingot(root, 'cache', 'list', '--cache', cache, '--json')).stdout) as {
    cache: string;
    families: unknown[];
    bootSets: {
      set: string;
      links: unknown;
      current: string;
      consistent: boolean;
      pairs: { id: string; current: boolean; kernel: { label: string }; initramfs: { label: string; guestInitProtocol: number } }[];
    }[];
  };
  assert.equal(listed.cache, cache);
  assert.deepEqual(listed.families, []);
  assert.equal(listed.bootSets.length, 1);
  const slot = listed.bootSets[0]!;
  assert.deepEqual([slot.set, slot.links, slot.consistent], ['default', { kernel: 'current', initramfs: 'current-initramfs' }, true]);
  assert.deepEqual(
    slot.pairs.map((p) => [p.current, p.kernel.label, p.initramfs.label, p.initramfs.guestInitProtocol]),
    [
      [true, '6.1.50-20251217a', 'guestinit-1.0.0-20251217a', 1],
      [false, '6.1.45-20251201a', 'guestinit-0.9.0-20251201a', 1],
    ],
  );

  // A switch interrupted after its commit point (the pointer moved, the links not yet): the pointer
  // is what counts, `cache list` says the links lag, and the next boot command completes the switch.
  const older = slot.pairs[1]!;
  await fs.symlink(`pairs/${older.id}`, path.join(cache, '.ingot', 'tmp-pointer'));
  await fs.rename(path.join(cache, '.ingot', 'tmp-pointer'), path.join(cache, '.ingot', 'pair-current'));
  const lagging = JSON.parse((await ingot(root, 'cache', 'list', '--cache', cache, '--json')).stdout) as typeof listed;
  assert.equal(lagging.bootSets[0]!.consistent, false);
  assert.deepEqual((JSON.parse((await ingot(root, 'cache', 'advertise', '--cache', cache, '--json')).stdout) as { current_default: unknown }).current_default, {
    kernel: '6.1.45-20251201a',
    initramfs: 'guestinit-0.9.0-20251201a',
  });
  const completed = await ingot(root, 'cache', 'use', 'guestinit-0.9.0-20251201a', '--cache', cache, '--boot-set', 'default');
  assert.equal(completed.code, 0, completed.stderr);
  assert.match(completed.stderr, /completing an interrupted boot pair switch/);
  assert.equal(await fs.readlink(path.join(cache, 'current')), kernelFile(OLD));
  assert.equal(await fs.readlink(path.join(cache, 'current-initramfs')), initramfsFile(OLD));
  assert.equal((JSON.parse((await ingot(root, 'cache', 'list', '--cache', cache, '--json')).stdout) as typeof listed).bootSets[0]!.consistent, true);
});

test('an incompatible host is refused with the reason, before anything is downloaded; host facts come from flags or a file', async (t) => {
  const root = await tempDir(t, 'ingot-boot-');
  const store = path.join(root, 'store');
  const cache = path.join(root, 'cache');
  const pub = await publisher(root, [{ ...NEW, protocol: 2, minAgent: '1.2.0' }]);
  await pub.write({ ...NEW, protocol: 2, minAgent: '1.2.0' });
  assert.equal((await ingot(root, 'sync', '--store', store)).code, 0);
  const base = ['pull', '--boot-set', 'default', '--store', store, '--to', cache, '--public-key', 'keys/ingot.pub'];

  const oldAgent = await ingot(root, ...base, '--agent-version', '1.1.9', '--protocol', '2');
  assert.equal(oldAgent.code, 1);
  assert.match(oldAgent.stderr, /boot set "default" cannot run on this host: it needs agent 1\.2\.0 or newer; this host runs 1\.1\.9/);
  assert.match(oldAgent.stderr, /code: INGOT_INCOMPATIBLE/);
  await fs.writeFile(path.join(root, 'host.json'), JSON.stringify({ agent_version: '1.3.0', guest_init_protocols: [1] }));
  const oldProtocol = await ingot(root, ...base, '--host-facts', 'host.json');
  assert.equal(oldProtocol.code, 1);
  assert.match(oldProtocol.stderr, /its guest init speaks protocol 2; this host speaks 1/);
  assert.deepEqual(
    (await fs.readdir(cache)).filter((n) => n !== '.ingot'),
    [],
    'nothing downloaded or linked',
  );
  // Flags win over the file.
  const ok = await ingot(root, ...base, '--host-facts', 'host.json', '--protocol', '2');
  assert.equal(ok.code, 0, ok.stderr);
  const ad = JSON.parse((await ingot(root, 'cache', 'advertise', '--cache', cache, '--host-facts', 'host.json', '--json')).stdout) as {
    kernel_versions: string[];
  };
  assert.deepEqual(ad.kernel_versions, [], 'a host speaking protocol 1 advertises no pair it cannot run');
  // Names in the cache's own state become paths: a tampered one is refused, never followed.
  const stateFile = path.join(cache, '.ingot', 'boot.json');
  const saved = await fs.readFile(stateFile, 'utf8');
  await fs.writeFile(stateFile, saved.replace('"kernel": "current"', '"kernel": "../../escape"'));
  const damaged = await ingot(root, 'cache', 'rollback', '--cache', cache, '--boot-set', 'default');
  assert.equal(damaged.code, 1);
  assert.match(damaged.stderr, /boot pair state pairs\[0\] names kernel link "\.\.\/\.\.\/escape"/);
  assert.match(damaged.stderr, /code: INGOT_CACHE_UNSAFE/);
  await fs.writeFile(stateFile, saved);
  await fs.writeFile(path.join(root, 'bad.json'), '{"guest_init_protocols": ["one"]}');
  const bad = await ingot(root, ...base, '--host-facts', 'bad.json');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /guest_init_protocols must be a list of non-negative integers/);
});

test('a boot manifest that is unsigned, signed by another key, replayed, or names bytes the index lacks is refused', async (t) => {
  const root = await tempDir(t, 'ingot-boot-');
  const store = path.join(root, 'store');
  const cache = path.join(root, 'cache');
  const pub = await publisher(root, [OLD, NEW]);
  const base = ['pull', '--boot-set', 'default', '--store', store, '--to', cache, '--public-key', 'keys/ingot.pub'];
  await pub.write(OLD);
  assert.equal((await ingot(root, 'sync', '--store', store)).code, 0);
  const oldManifest = await fs.readFile(path.join(store, 'boot', 'default.json'));
  const oldSignature = await fs.readFile(path.join(store, 'boot', 'default.json.minisig'));
  assert.equal((await ingot(root, ...base)).code, 0);

  // A newer one is accepted (the signature's timestamp has one-second resolution).
  await new Promise((r) => setTimeout(r, 1100));
  await pub.write(NEW);
  assert.equal((await ingot(root, 'sync', '--store', store)).code, 0);
  assert.equal((await ingot(root, ...base)).code, 0);

  // Replaying the older, validly signed manifest is a rollback.
  await fs.writeFile(path.join(store, 'boot', 'default.json'), oldManifest);
  await fs.writeFile(path.join(store, 'boot', 'default.json.minisig'), oldSignature);
  const replay = await ingot(root, ...base);
  assert.equal(replay.code, 1);
  assert.match(replay.stderr, /boot manifest of "default" went back/);
  assert.match(replay.stderr, /code: INGOT_BOOT_MANIFEST_ROLLBACK/);
  assert.equal(await fs.readlink(path.join(cache, 'current')), kernelFile(NEW), 'nothing switched');
  assert.equal((await ingot(root, ...base, '--allow-rollback')).code, 0);
  assert.equal(await fs.readlink(path.join(cache, 'current')), kernelFile(OLD));

  // An edited manifest fails its signature; a missing signature is reported as such.
  const edited = oldManifest.toString().replace('"min_agent_version": "1.0.0"', '"min_agent_version": "0.0.1"');
  assert.notEqual(edited, oldManifest.toString());
  await fs.writeFile(path.join(store, 'boot', 'default.json'), edited);
  const tampered = await ingot(root, ...base);
  assert.equal(tampered.code, 1);
  assert.match(tampered.stderr, /code: INGOT_SIGNATURE_INVALID/);
  await fs.rm(path.join(store, 'boot', 'default.json.minisig'));
  assert.match((await ingot(root, ...base)).stderr, /code: INGOT_SIGNATURE_MISSING/);

  // An unknown boot set names the ones there are.
  const unknown = await ingot(root, 'pull', '--boot-set', 'nope', '--store', store, '--to', cache, '--public-key', 'keys/ingot.pub');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no boot set "nope".*\n.*boot sets in the store: default/);

  // A boot manifest naming bytes the signed index does not list (pruned, or from another store).
  const other = await ingot(root, 'keys', 'generate', '--out', 'other', '--unencrypted');
  assert.equal(other.code, 0);
  await fs.writeFile(
    path.join(store, 'boot', 'default.json'),
    oldManifest.toString().replace(/"sha256": "[0-9a-f]{64}",\n {4}"config_sha256"/, `"sha256": "${'e'.repeat(64)}",\n    "config_sha256"`),
  );
  const { openSecretKey } = await import('../../src/trust/keys.js');
  const { signBytes } = await import('../../src/trust/signature.js');
  const key = await openSecretKey(await fs.readFile(path.join(root, 'keys', 'ingot.key'), 'utf8'));
  const forged = await fs.readFile(path.join(store, 'boot', 'default.json'));
  await fs.writeFile(
    path.join(store, 'boot', 'default.json.minisig'),
    signBytes(forged, key, { trustedComment: `timestamp:${Math.floor(Date.now() / 1000) + 5}\tfile:default.json` }),
  );
  const unlisted = await ingot(root, ...base);
  assert.equal(unlisted.code, 1, unlisted.stderr);
  assert.match(unlisted.stderr, /names a kernel \(sha256:e{64}\) that the signed index does not list/);

  // Another key's signature.
  assert.equal((await ingot(root, 'sync', '--store', store, '--signing-key', 'other/ingot.key')).code, 0);
  assert.match((await ingot(root, ...base)).stderr, /code: INGOT_SIGNATURE_KEY_MISMATCH/);
});

test('keeps the last 3 pairs, never the current one; a reader never sees a missing link or a pair that does not exist', async (t) => {
  const root = await tempDir(t, 'ingot-boot-');
  const store = path.join(root, 'store');
  const cache = path.join(root, 'cache');
  const builds: Build[] = ['a', 'b', 'c', 'd'].map((letter, i) => ({
    kernel: `6.1.${40 + i}`,
    build: `2025120${i}${letter}`,
    guestInit: `1.0.${i}`,
    protocol: 1,
  }));
  const pub = await publisher(root, builds);
  const base = ['pull', '--boot-set', 'default', '--store', store, '--to', cache, '--public-key', 'keys/ingot.pub'];
  // Publish all four as boot sets, then pull them in order into one slot.
  await pub.write(builds[0]!, Object.fromEntries(builds.map((b, i) => [`b${i}`, b])));
  assert.equal((await ingot(root, 'sync', '--store', store)).code, 0);
  for (let i = 0; i < 3; i++) assert.equal((await ingot(root, 'pull', '--boot-set', `b${i}`, ...base.slice(3))).code, 0);
  // The fourth pair pushes the oldest out; rollback still has two pairs to go to.
  const fourth = JSON.parse((await ingot(root, 'pull', '--boot-set', 'b3', ...base.slice(3), '--json')).stdout) as { removed: string[] };
  assert.deepEqual(fourth.removed.sort(), [initramfsFile(builds[0]!), kernelFile(builds[0]!)].sort());
  const files = (await fs.readdir(cache)).filter((n) => n.startsWith('vmlinuz') && !n.endsWith('.sha256')).sort();
  assert.deepEqual(files, [kernelFile(builds[1]!), kernelFile(builds[2]!), kernelFile(builds[3]!)]);
  // After a rollback the current pair is not the newest: --keep 1 keeps the newest and the current one.
  assert.equal((await ingot(root, 'cache', 'rollback', '--cache', cache, '--boot-set', 'b3')).code, 0);
  const keepOne = JSON.parse((await ingot(root, 'pull', '--boot-set', 'b2', ...base.slice(3), '--keep', '1', '--json')).stdout) as {
    status: string;
    removed: string[];
  };
  assert.equal(keepOne.status, 'cached');
  assert.deepEqual(keepOne.removed.sort(), [initramfsFile(builds[1]!), kernelFile(builds[1]!)].sort());
  assert.equal(await fs.readlink(path.join(cache, 'current')), kernelFile(builds[2]!));
  const pairs = await fs.readdir(path.join(cache, '.ingot', 'pairs'));
  assert.equal(pairs.length, 2, 'the dropped pair directories are gone');

  // A reader in another process, the way an agent reads: each link, then the pointer; and the pair directory.
  const reader = spawn(
    'bash',
    [
      '-c',
      `cd "$1"; for n in $(seq 1 600); do k=$(readlink current) || echo MISSING-current; i=$(readlink current-initramfs) || echo MISSING-initramfs; ` +
        `p=$(readlink .ingot/pair-current) || echo MISSING-pointer; pk=$(readlink .ingot/$p/kernel); pi=$(readlink .ingot/$p/initramfs); echo "$k $i \${pk##*/} \${pi##*/}"; done`,
      'reader',
      cache,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  reader.stdout.on('data', (d: Buffer) => (output += d.toString()));
  const done = new Promise((resolve) => reader.on('close', resolve));
  let switches = 0;
  for (let running = true; running; ) {
    const which = switches % 2 === 0 ? '6.1.42-20251202c' : '6.1.43-20251203d';
    assert.equal((await ingot(root, 'cache', 'use', which, '--cache', cache, '--boot-set', 'b3')).code, 0);
    switches++;
    running = reader.exitCode === null;
  }
  await done;
  const real = new Set(builds.map((b) => `${kernelFile(b)} ${initramfsFile(b)}`));
  const lines = output.trim().split('\n');
  assert.ok(switches > 5 && lines.length === 600, `${switches} switches during ${lines.length} reads`);
  let agreed = 0;
  for (const line of lines) {
    assert.doesNotMatch(line, /MISSING/);
    const [k, i, pk, pi] = line.split(' ');
    // The pair directory always names a real pair.
    assert.ok(real.has(`${pk} ${pi}`), line);
    // Links that agree with the pointer read after them are a real pair.
    if (k === pk && i === pi) {
      agreed++;
      assert.ok(real.has(`${k} ${i}`), line);
    }
  }
  assert.ok(agreed > 0);
});

test("link names per family: a kernel family with a channel gets the document's `current`; the family-less hint is usable", async (t) => {
  const root = await tempDir(t, 'ingot-links-');
  const store = path.join(root, 'store');
  const cache = path.join(root, 'cache');
  await fs.mkdir(path.join(root, 'artifacts'));
  const images = [];
  for (const v of ['6.1.45-20251201a', '6.1.50-20251217a']) {
    const bytes = bytesFor(v, 20_000);
    await fs.writeFile(path.join(root, 'artifacts', `vmlinuz-plfm-${v}`), bytes);
    images.push({
      name: `kernel-${v}`,
      family: 'kernel',
      version: v,
      source: { type: 'file', path: `artifacts/vmlinuz-plfm-${v}`, checksum: sha256(bytes) },
      destination: { path: `kernels/vmlinuz-plfm-${v}` },
    });
  }
  const tool = bytesFor('tool', 1000);
  await fs.writeFile(path.join(root, 'artifacts', 'tool.bin'), tool);
  images.push({ name: 'tool', source: { type: 'file', path: 'artifacts/tool.bin', checksum: sha256(tool) }, destination: { path: 'misc/tool.bin' } });
  await fs.writeFile(
    path.join(root, 'images.yaml'),
    JSON.stringify({ apiVersion: 'ingot/v1alpha1', kind: 'ImageManifest', metadata: { name: 'k' }, spec: { signing: { key: 'keys/ingot.key' }, images } }),
  );
  assert.equal((await ingot(root, 'keys', 'generate', '--out', 'keys', '--unencrypted')).code, 0);
  assert.equal((await ingot(root, 'sync', '--store', store)).code, 0);
  const signing = ['--store', store, '--signing-key', 'keys/ingot.key'];
  const host = ['--store', store, '--to', cache, '--public-key', 'keys/ingot.pub'];
  for (const v of ['6.1.45-20251201a', '6.1.50-20251217a']) {
    assert.equal((await ingot(root, 'channel', 'set', 'kernel', 'stable', v, ...signing)).code, 0);
    const pulled = await ingot(root, 'pull', 'kernel', '--channel', 'stable', '--link', 'current', ...host);
    assert.equal(pulled.code, 0, pulled.stderr);
  }
  assert.equal(await fs.readlink(path.join(cache, 'current')), 'vmlinuz-plfm-6.1.50-20251217a');
  await assert.rejects(fs.lstat(path.join(cache, 'current-kernel')), 'no default link besides it');
  // Remembered: rollback and list use `current` for the family.
  const rb = await ingot(root, 'cache', 'rollback', '--cache', cache, '--family', 'kernel');
  assert.equal(rb.stdout, 'current -> vmlinuz-plfm-6.1.45-20251201a (was vmlinuz-plfm-6.1.50-20251217a)\n');
  // A family-less image cannot take `current` now: its default link is taken.
  const clash = await ingot(root, 'pull', 'misc/tool.bin', ...host);
  assert.equal(clash.code, 2);
  assert.match(clash.stderr, /link current already belongs to family "kernel"/);
  assert.equal((await ingot(root, 'pull', 'misc/tool.bin', ...host, '--link', 'current-tool')).code, 0);
  // Several families: the hint says how to name each, and the family-less one works as it says.
  const ambiguous = await ingot(root, 'cache', 'rollback', '--cache', cache);
  assert.equal(ambiguous.code, 2);
  assert.match(ambiguous.stderr, /pass one of: --family '' \(images without a family\), --family kernel/);
  const use = await ingot(root, 'cache', 'use', 'tool.bin', '--cache', cache, '--family', '');
  assert.equal(use.code, 0, use.stderr);
  assert.match(use.stdout, /^current-tool -> tool\.bin/);
  // A boot set cannot switch links a family owns.
  const listed = JSON.parse((await ingot(root, 'cache', 'list', '--cache', cache, '--json')).stdout) as { families: { family: string; link: string }[] };
  assert.deepEqual(
    listed.families.map((f) => [f.family, f.link]),
    [
      ['', 'current-tool'],
      ['kernel', 'current'],
    ],
  );
});
