import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { IngotError } from '../../src/errors.js';
import { run } from '../../src/exec/run.js';
import { resolveEntries } from '../../src/initramfs/builder.js';
import { FileType, S_IFMT } from '../../src/initramfs/header.js';
import { listingLine } from '../../src/initramfs/listing.js';
import { openArchive, readArchive, type ReadEntry } from '../../src/initramfs/reader.js';
import { needTool } from '../helpers/tools.js';
import { buildBytes, makeTree, sha256, spec, tempDir } from './fixtures.js';

async function readAll(bytes: Buffer): Promise<ReadEntry[]> {
  const out: ReadEntry[] = [];
  const { entries } = await openArchive(
    (async function* () {
      yield bytes;
    })(),
    { withData: true },
  );
  for await (const entry of entries) out.push(entry);
  return out;
}

describe('initramfs archives', () => {
  it('are byte-identical across builds, and from a copy of the tree elsewhere with other mtimes', async (t) => {
    if (!needTool(t, 'mkfifo', 'coreutils')) return;
    const dir = await tempDir(t);
    const tree = path.join(dir, 'a');
    await makeTree(tree);
    const first = await buildBytes(spec(tree));
    const second = await buildBytes(spec(tree));
    assert.equal(sha256(first), sha256(second));

    const copy = path.join(dir, 'elsewhere', 'b');
    await fs.mkdir(path.dirname(copy));
    await run('cp', ['-a', tree, copy]);
    await run('touch', ['-d', '2001-02-03 04:05', path.join(copy, 'bin/tool'), path.join(copy, 'etc')]);
    assert.equal(sha256(await buildBytes(spec(copy))), sha256(first));

    // …and the content does matter.
    await fs.appendFile(path.join(copy, 'etc/ssl/ca.pem'), 'y');
    assert.notEqual(sha256(await buildBytes(spec(copy))), sha256(first));
  });

  it('normalise tree modes by default, so checkouts made with another umask give the same bytes', async (t) => {
    if (!needTool(t, 'mkfifo', 'coreutils')) return;
    const dir = await tempDir(t);
    const tree = path.join(dir, 'a');
    await makeTree(tree);
    const copy = path.join(dir, 'b');
    await run('cp', ['-a', tree, copy]);
    await run('chmod', ['-R', 'g+w', copy]); // as a checkout with umask 002 would be
    const normal = { ...spec(tree), treeModes: undefined };
    const first = await buildBytes(normal);
    assert.equal(sha256(await buildBytes({ ...normal, tree: copy })), sha256(first));
    const preserved = await buildBytes(spec(tree));
    assert.notEqual(sha256(preserved), sha256(first), 'preserve keeps the bits on disk');
    const modes = new Map((await readAll(first)).map((e) => [e.header.name, e.header.mode & 0o7777]));
    assert.deepEqual(
      ['bin/tool', 'bin/suid', 'etc/ssl/ca.pem', 'var/empty', 'var/pipe', 'etc', 'init'].map((n) => modes.get(n)?.toString(8)),
      ['755', '755', '644', '755', '644', '751', '755'],
      'files 0755/0644 by the owner x bit, directories 0755; declared entries keep their modes',
    );
  });

  it('write gzip without name or time and with OS byte 3 (Unix)', async () => {
    const bytes = await buildBytes(spec(undefined));
    // magic, deflate, no flags (no name, no comment), mtime 0, xfl 0 (level 6), OS 3
    assert.deepEqual([...bytes.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
  });

  it('read back what was written (reader ↔ writer), with inodes, links and sorted paths', async (t) => {
    if (!needTool(t, 'mkfifo', 'coreutils')) return;
    const tree = path.join(await tempDir(t), 'tree');
    await makeTree(tree);
    const s = spec(tree, { compression: 'none' });
    const raw = await buildBytes(s);
    const read = await readAll(raw);
    const expected = await resolveEntries(s);
    assert.deepEqual(
      read.map((e) => e.header.name),
      expected.map((e) => e.path),
    );
    assert.deepEqual(
      read.map((e) => e.header.name),
      [...read.map((e) => e.header.name)].sort(),
    );
    const byName = new Map(read.map((e) => [e.header.name, e]));
    const tool = byName.get('bin/tool')!;
    const alias = byName.get('bin/tool-alias')!;
    assert.equal(tool.header.ino, alias.header.ino, 'hard links share an inode');
    assert.equal(tool.header.nlink, 2);
    assert.equal(alias.header.nlink, 2);
    // GNU convention: the data travels with the last member of the group.
    assert.equal(tool.header.fileSize, 0);
    assert.equal(alias.data?.length, 70_001);
    assert.equal(sha256(alias.data!), sha256(await fs.readFile(path.join(tree, 'bin/tool'))));
    assert.equal(byName.get('bin/link')!.target, 'tool');
    assert.equal(byName.get('etc')!.header.mode, FileType.directory | 0o751, 'an entry re-declares a tree directory');
    assert.equal(byName.get('etc')!.header.nlink, 3, 'etc has one subdirectory');
    assert.equal(byName.get('bin/suid')!.header.mode, FileType.file | 0o4755);
    assert.equal(byName.get('home')!.header.mode, FileType.directory | 0o755, 'missing parents are created');
    assert.equal(byName.get('home/user/owned')!.header.uid, 4242);
    assert.deepEqual([byName.get('dev/vda')!.header.rdevMajor, byName.get('dev/vda')!.header.rdevMinor], [254, 0]);
    assert.equal(byName.get('var/pipe')!.header.mode & S_IFMT, FileType.fifo);
    assert.ok(read.every((e) => e.header.mtime === 1_700_000_000));
    const inodes = read.filter((e) => e.header.name !== 'bin/tool-alias').map((e) => e.header.ino);
    assert.deepEqual(
      inodes,
      inodes.map((_, i) => i + 1),
      'inode numbers are assigned in order',
    );
    assert.equal(raw.length % 4, 0);
    assert.match(raw.toString('latin1', raw.length - 124), /TRAILER!!!/);
  });

  it('are listed by GNU cpio -itv exactly as ingot lists them', async (t) => {
    if (!needTool(t, 'cpio') || !needTool(t, 'mkfifo', 'coreutils')) return;
    const tree = path.join(await tempDir(t), 'tree');
    await makeTree(tree);
    const bytes = await buildBytes(spec(tree));
    const gnu = await run('cpio', ['-itv', '--quiet'], { input: gunzipSync(bytes), extraEnv: { TZ: 'UTC', LC_ALL: 'C' } });
    const ours = (await readAll(bytes)).map((e) => listingLine(e.header, e.target));
    assert.deepEqual(gnu.stdout.trimEnd().split('\n'), ours);
  });

  it('are extracted by GNU cpio -idm with the same files, modes, owners, links and device nodes', async (t) => {
    if (!needTool(t, 'cpio') || !needTool(t, 'mkfifo', 'coreutils')) return;
    if (process.getuid?.() !== 0) return t.skip('device nodes and owners need root');
    const dir = await tempDir(t);
    const tree = path.join(dir, 'tree');
    await makeTree(tree);
    const bytes = await buildBytes(spec(tree, { compression: 'none' }));
    const out = path.join(dir, 'out');
    await fs.mkdir(out);
    await run('cpio', ['-idm', '--quiet'], { input: bytes, cwd: out });
    const read = await readAll(bytes);
    for (const { header, target, data } of read) {
      const st = await fs.lstat(path.join(out, header.name));
      assert.equal(st.mode, header.mode, `mode of ${header.name}`);
      assert.equal(st.uid, header.uid, `uid of ${header.name}`);
      assert.equal(st.gid, header.gid, `gid of ${header.name}`);
      if (target !== undefined) assert.equal(await fs.readlink(path.join(out, header.name)), target);
      if ((header.mode & S_IFMT) === FileType.char || (header.mode & S_IFMT) === FileType.block) {
        assert.equal(st.rdev, (header.rdevMajor << 8) | header.rdevMinor, `device numbers of ${header.name}`);
      }
      if ((header.mode & S_IFMT) === FileType.file) {
        if (header.fileSize > 0) assert.equal(sha256(await fs.readFile(path.join(out, header.name))), sha256(data!));
        if ((header.mode & S_IFMT) !== FileType.directory) assert.equal(st.mtimeMs, header.mtime * 1000, `mtime of ${header.name}`);
      }
    }
    const [a, b] = await Promise.all([fs.stat(path.join(out, 'bin/tool')), fs.stat(path.join(out, 'bin/tool-alias'))]);
    assert.equal(a.ino, b.ino, 'the hard link is a hard link after extraction');
    assert.equal(a.size, 70_001);
  });

  for (const [compression, tool, pkg, args] of [
    ['zstd', 'zstd', 'zstd', ['-dcq']],
    ['xz', 'xz', 'xz-utils', ['-dc']],
  ] as const) {
    it(`compress with ${compression} to the same archive, reproducibly`, async (t) => {
      if (!needTool(t, tool, pkg)) return;
      const plain = await buildBytes(spec(undefined, { compression: 'none' }));
      const packed = await buildBytes(spec(undefined, { compression }));
      assert.equal(sha256(await buildBytes(spec(undefined, { compression }))), sha256(packed));
      const unpacked = await run(tool, [...args], { input: packed, maxBuffer: 1 << 24 });
      assert.equal(unpacked.stdout, plain.toString());
      assert.equal((await readAll(packed)).length, (await readAll(plain)).length);
      if (compression === 'xz') {
        const info = await run('xz', ['--robot', '-lvv', '-'], { input: packed, reject: false });
        if (info.exitCode === 0) assert.match(info.stdout, /CRC32/, 'the kernel only knows CRC32 checks');
      }
    });
  }

  it('fail over sizeLimit, saying the actual compressed size', async (t) => {
    if (!needTool(t, 'mkfifo', 'coreutils')) return;
    const tree = path.join(await tempDir(t), 'tree');
    await makeTree(tree);
    const actual = (await buildBytes(spec(tree))).length;
    await assert.rejects(buildBytes(spec(tree, { sizeLimit: 4096, subject: 'initramfs "tiny"' })), (error: unknown) => {
      assert.ok(error instanceof IngotError);
      assert.equal(error.code, 'INGOT_INITRAMFS_TOO_LARGE');
      assert.match(error.message, new RegExp(`^initramfs "tiny" is .* \\(${actual} bytes\\) compressed, over its sizeLimit of 4.0 KiB \\(4096 bytes\\)`));
      assert.equal(error.actual, String(actual));
      return true;
    });
    assert.equal((await buildBytes(spec(tree, { sizeLimit: actual }))).length, actual, 'exactly at the limit is fine');
  });

  const bad: [string, Parameters<typeof spec>[1], RegExp][] = [
    ['a path escaping the archive', { entries: [{ type: 'file', path: '../x', content: '' }] }, /entries\[0\]: path "\.\.\/x" escapes the archive/],
    ['an absolute path', { entries: [{ type: 'file', path: '/init', content: '' }] }, /entries\[0\]: path "\/init" is absolute; write "init"/],
    [
      'a duplicate path',
      {
        entries: [
          { type: 'fifo', path: 'a' },
          { type: 'directory', path: 'b' },
          { type: 'fifo', path: 'a' },
        ],
      },
      /entries\[2\]: duplicate path "a" \(first at entries\[0\]\)/,
    ],
    [
      'a missing source file',
      { entries: [{ type: 'file', path: 'bin/x', source: '/nonexistent/ingot/x' }] },
      /entries\[0\]: source file \/nonexistent\/ingot\/x does not exist/,
    ],
    [
      'a file inside a file',
      {
        entries: [
          { type: 'file', path: 'a', content: '' },
          { type: 'fifo', path: 'a/b' },
        ],
      },
      /"a\/b" is inside "a", which is a file/,
    ],
    ['a dangling hard link', { entries: [{ type: 'hardlink', path: 'a', target: 'b' }] }, /hard link "a" points at "b", which is not in the archive/],
  ];
  for (const [label, patch, message] of bad) {
    it(`refuse ${label} with a clear error`, async () => {
      await assert.rejects(buildBytes(spec(undefined, patch)), (error: unknown) => {
        assert.ok(error instanceof IngotError);
        assert.equal(error.code, 'INGOT_INITRAMFS_INPUT');
        assert.match(error.message, message);
        return true;
      });
    });
  }

  it('refuse a tree entry redeclared as a file', async (t) => {
    if (!needTool(t, 'mkfifo', 'coreutils')) return;
    const tree = path.join(await tempDir(t), 'tree');
    await makeTree(tree);
    await assert.rejects(
      buildBytes(spec(tree, { entries: [{ type: 'file', path: 'bin/tool', content: 'x' }] })),
      /entries\[0\]: path "bin\/tool" is also in the tree/,
    );
  });

  it('read several concatenated archives and reject a truncated one', async () => {
    const one = await buildBytes(spec(undefined, { compression: 'none', entries: [{ type: 'file', path: 'a', content: 'A' }] }));
    const two = await buildBytes(spec(undefined, { compression: 'none', entries: [{ type: 'file', path: 'b', content: 'BB' }] }));
    const names: string[] = [];
    for await (const e of readArchive(
      (async function* () {
        yield Buffer.concat([one, Buffer.alloc(512), two]);
      })(),
    ))
      names.push(e.header.name);
    assert.deepEqual(names, ['a', 'b']);
    // An uncompressed early archive followed by a compressed one (microcode + main image, as the kernel accepts).
    const packed = await buildBytes(spec(undefined, { compression: 'gzip', entries: [{ type: 'file', path: 'c', content: 'C' }] }));
    assert.deepEqual(
      (await readAll(Buffer.concat([one, packed]))).map((e) => e.header.name),
      ['a', 'c'],
    );
    await assert.rejects(readAll(packed.subarray(0, packed.length - 30)), /cannot read the gzip-compressed archive: unexpected end of file/);
    await assert.rejects(readAll(one.subarray(0, one.length - 20)), /truncated cpio archive/);
  });
});
