/** Regressions from review: hostile archives and ingot's own state inside a tree. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { IngotError } from '../../src/errors.js';
import { encodeHeader } from '../../src/initramfs/header.js';
import { readArchive } from '../../src/initramfs/reader.js';
import { collectTree } from '../../src/initramfs/tree.js';

describe('initramfs hardening', () => {
  it('refuses a symlink that claims a huge target before buffering it', async () => {
    const header = encodeHeader({
      ino: 1,
      mode: 0o120777,
      uid: 0,
      gid: 0,
      nlink: 1,
      mtime: 0,
      fileSize: 0xfffffff0,
      devMajor: 0,
      devMinor: 0,
      rdevMajor: 0,
      rdevMinor: 0,
      check: 0,
      name: 'evil',
    });
    const source = (async function* () {
      yield header;
      for (let i = 0; i < 64; i++) yield Buffer.alloc(1 << 20); // would be buffered without the check
    })();
    await assert.rejects(
      (async () => {
        for await (const _ of readArchive(source)) void _;
      })(),
      (e: IngotError) => e.code === 'INGOT_CPIO_INVALID' && /symlink "evil" claims/.test(e.message),
    );
  });

  it('leaves .ingot/ (the default store, VMs) and .ingot-* temporary files out of a tree', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ingot-tree-'));
    mkdirSync(join(root, '.ingot', 'store'), { recursive: true });
    writeFileSync(join(root, '.ingot', 'store', 'big.img'), 'x');
    writeFileSync(join(root, '.ingot-tmp-abc-init'), 'x');
    writeFileSync(join(root, 'init'), '#!/bin/sh\n');
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc', '.ingot-note'), 'kept: only the tree root is filtered');
    const paths = (await collectTree(root)).map((e) => e.path).sort();
    assert.deepEqual(paths, ['etc', 'etc/.ingot-note', 'init']);
  });
});
