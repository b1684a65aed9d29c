/**
 * The nesting-and-size table for archives (issue 17): `ingot inspect` on
 * hostile initramfs files, run as the built CLI in a child process so its
 * peak memory can be bounded. Each row builds a file, runs inspect with some
 * flags and states what must come out. Add a row for a new attack.
 */
import assert from 'node:assert/strict';
import { createWriteStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { gzipSync, constants as zc } from 'node:zlib';
import { describe, it } from 'node:test';
import { encodeHeader, pad4, trailerHeader, type CpioHeader } from '../../src/initramfs/header.js';
import { compress, tempDir } from '../helpers/fixtures.js';
import { runMeasured } from '../helpers/measure.js';
import { needTool } from '../helpers/tools.js';

/** Peak RSS allowed for `inspect`, MiB. */
const BOUND_MIB = 300;

function header(name: string, fileSize: number, mode: number): CpioHeader {
  return { ino: 1, mode, uid: 0, gid: 0, nlink: 1, mtime: 1_700_000_000, fileSize, devMajor: 0, devMinor: 0, rdevMajor: 0, rdevMinor: 0, check: 0, name };
}
/** One newc member with its data. */
function member(name: string, data: Buffer | string = '', mode = 0o100644): Buffer {
  const bytes = Buffer.from(data);
  return Buffer.concat([encodeHeader(header(name, bytes.length, mode)), bytes, Buffer.alloc(pad4(bytes.length))]);
}
const trailer = () => encodeHeader(trailerHeader());

/** `depth` layers: an uncompressed archive, then after its trailer a gzip-compressed one holding the next layer, and so on. */
function nested(depth: number): Buffer {
  let inner = Buffer.concat([member(`layer-${depth}`), trailer()]);
  for (let level = depth - 1; level >= 1; level--) {
    inner = Buffer.concat([member(`layer-${level}`), trailer(), gzipSync(inner, { level: 1 })]);
  }
  return inner;
}

/** A gzip file made of members (each compressed on its own, or given compressed), so huge contents need little memory to build. */
async function gzipFile(file: string, parts: Iterable<Buffer | { gzipped: Buffer }>): Promise<string> {
  const out = createWriteStream(file);
  for (const part of parts) {
    const bytes = Buffer.isBuffer(part) ? gzipSync(part, { level: zc.Z_BEST_SPEED }) : part.gzipped;
    if (!out.write(bytes)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return file;
}

/** `bytes` of zeros (a multiple of 64 MiB) as gzip members, compressed once. */
let zeroBlock: Buffer | undefined;
function* zeros(bytes: number): Generator<{ gzipped: Buffer }> {
  zeroBlock ??= gzipSync(Buffer.alloc(64 << 20), { level: zc.Z_BEST_SPEED });
  for (let left = bytes; left > 0; left -= 64 << 20) yield { gzipped: zeroBlock };
}

/** `count` symlinks, each with a `targetBytes`-long target, in batches. */
function* symlinks(count: number, targetBytes: number): Generator<Buffer> {
  const target = 'a'.repeat(targetBytes);
  for (let i = 0; i < count; i += 1000) {
    const batch: Buffer[] = [];
    for (let j = i; j < Math.min(count, i + 1000); j++) batch.push(member(`link-${j}`, target, 0o120777));
    yield Buffer.concat(batch);
  }
  yield trailer();
}

interface Expect {
  /** Exit code. */
  code: number;
  /** The INGOT_ code of the error (read from the --json document). */
  error?: string;
  message?: RegExp;
  /** Members listed. */
  entries?: number;
  /** Checks on the text listing. */
  text?: (stdout: string) => void;
}

interface ArchiveCase {
  name: string;
  tool?: string;
  build: (dir: string) => Promise<string> | string;
  args?: string[];
  /** Send the listing to /dev/null (a listing of hundreds of MiB); memory is what is checked. */
  discard?: boolean;
  expect: Expect;
}

const ARCHIVES: ArchiveCase[] = [
  {
    name: 'archives nested 8 deep (the limit) are listed',
    build: (dir) => write(dir, 'nested-8.cpio', nested(8)),
    expect: { code: 0, entries: 8 },
  },
  {
    name: 'archives nested 9 deep are refused',
    build: (dir) => write(dir, 'nested-9.cpio', nested(9)),
    expect: { code: 1, error: 'INGOT_CPIO_LIMIT', message: /archives nested more than 8 deep/ },
  },
  {
    // The field report: 2,000 layers took 620 MB and ended in "Maximum call stack size exceeded".
    name: 'archives nested 300 deep are refused at once (no stack overflow, little memory)',
    build: (dir) => write(dir, 'nested-300.cpio', nested(300)),
    expect: { code: 1, error: 'INGOT_CPIO_LIMIT', message: /archives nested more than 8 deep/ },
  },
  {
    name: 'a 1 GiB member in a gzip archive stops at the cap',
    build: (dir) => gzipFile(join(dir, 'big.cpio.gz'), [encodeHeader(header('big', 2 ** 30, 0o100644)), ...zeros(2 ** 30), trailer()]),
    args: ['--max-decompressed-size', '16MiB'],
    expect: { code: 1, error: 'INGOT_DECOMPRESS_LIMIT', message: /the archive decompresses to more than 16 MiB/ },
  },
  {
    name: 'a 256 MiB member under a larger cap is listed',
    build: (dir) => gzipFile(join(dir, 'big-ok.cpio.gz'), [encodeHeader(header('big', 2 ** 28, 0o100644)), ...zeros(2 ** 28), trailer()]),
    args: ['--max-decompressed-size', '512MiB'],
    expect: { code: 0, entries: 1 },
  },
  {
    name: 'the cap counts every layer: a nested archive cannot add its own allowance',
    build: (dir) =>
      write(
        dir,
        'nested-big.cpio',
        Buffer.concat([
          member('outer'),
          trailer(),
          gzipSync(Buffer.concat([encodeHeader(header('inner', 12 << 20, 0o100644)), Buffer.alloc(12 << 20), trailer()])),
        ]),
      ),
    args: ['--max-decompressed-size', '8MiB'],
    expect: { code: 1, error: 'INGOT_DECOMPRESS_LIMIT' },
  },
  {
    name: 'zstd of nothing but NUL bytes is not an empty archive',
    tool: 'zstd',
    build: (dir) => write(dir, 'zeros.zst', compress(Buffer.alloc(64 << 20), 'zstd')),
    args: ['--decompressor', 'builtin'],
    expect: { code: 1, error: 'INGOT_CPIO_INVALID', message: /no cpio header in 67108864 bytes \(only NUL padding\)/ },
  },
  {
    name: 'names cannot forge listing lines or send terminal escapes',
    build: (dir) =>
      write(
        dir,
        'names.cpio',
        Buffer.concat([
          member('evil\n-rwxr-xr-x   1 root     root            0 Nov 14  2023 forged'),
          member('\x1b]0;pwned\x07\x1b[2Jtitle'),
          member('bidi\u202etxt.exe'),
          member('back\\slash'),
          member('link', '\x1b[31mtarget\r', 0o120777),
          trailer(),
        ]),
      ),
    expect: {
      code: 0,
      entries: 5,
      text: (stdout) => {
        assert.equal(stdout.split('\n').filter(Boolean).length, 5, 'one line per member');
        assert.doesNotMatch(stdout, /[\x00-\x08\x0b-\x1f\x7f\u202e]/, 'no control character reaches the terminal');
        assert.match(stdout, / evil\\n-rwxr-xr-x {3}1 root {5}root {12}0 Nov 14 {2}2023 forged\n/);
        assert.match(stdout, / \\x1b\]0;pwned\\x07\\x1b\[2Jtitle\n/);
        assert.match(stdout, / bidi\\u\{202e\}txt\.exe\n/);
        assert.match(stdout, / back\\\\slash\n/);
        assert.match(stdout, / link -> \\x1b\[31mtarget\\r\n/);
      },
    },
  },
  {
    // The field report: 200,000 such symlinks ended in INGOT_INTERNAL "Invalid string length" at 1 GB.
    name: '50,000 symlinks with 4 KiB targets: the listing is streamed (text)',
    build: (dir) => gzipFile(join(dir, 'links.cpio.gz'), symlinks(50_000, 4000)),
    discard: true,
    expect: { code: 0 },
  },
  {
    name: '50,000 symlinks with 4 KiB targets: the listing is streamed (--json)',
    build: (dir) => gzipFile(join(dir, 'links-json.cpio.gz'), symlinks(50_000, 4000)),
    args: ['--json'],
    discard: true,
    expect: { code: 0 },
  },
  {
    name: 'an error midway closes the --json document with "error" (one valid document)',
    build: (dir) =>
      write(
        dir,
        'partial.cpio.gz',
        gzipSync(Buffer.concat([member('first', 'x'), member('second', 'y'), encodeHeader(header('huge', 32 << 20, 0o100644)), Buffer.alloc(32 << 20)])),
      ),
    args: ['--max-decompressed-size', '1MiB'],
    expect: { code: 1, error: 'INGOT_DECOMPRESS_LIMIT', entries: 2 },
  },
];

function write(dir: string, name: string, bytes: Buffer): string {
  const file = join(dir, name);
  writeFileSync(file, bytes);
  return file;
}

describe('inspect on hostile archives', () => {
  for (const row of ARCHIVES) {
    it(row.name, async (t) => {
      if (row.tool && !needTool(t, row.tool)) return;
      const file = await row.build(tempDir('ingot-hostile-'));
      const args = row.args ?? [];
      // JSON tells the error code and the entries; text is checked where the row asks.
      const wantJson = !row.discard && !row.expect.text;
      const r = await runMeasured(['inspect', file, ...args, ...(wantJson && !args.includes('--json') ? ['--json'] : [])], {
        discardStdout: row.discard === true,
      });
      assert.equal(r.code, row.expect.code, r.stderr);
      assert.ok(r.maxRssMiB !== undefined && r.maxRssMiB < BOUND_MIB, `peak RSS ${r.maxRssMiB?.toFixed(0)} MiB, bound ${BOUND_MIB} MiB`);
      t.diagnostic(`peak RSS ${r.maxRssMiB.toFixed(0)} MiB`);
      assert.doesNotMatch(r.stderr, /INGOT_INTERNAL|Maximum call stack|Invalid string length/);
      if (wantJson) {
        const doc = JSON.parse(r.stdout) as { entries: unknown[]; error?: { code: string; message: string } };
        if (row.expect.error) assert.equal(doc.error?.code, row.expect.error, r.stdout);
        else assert.equal(doc.error, undefined);
        if (row.expect.message) assert.match(doc.error?.message ?? '', row.expect.message);
        if (row.expect.entries !== undefined) assert.equal(doc.entries.length, row.expect.entries);
      }
      if (row.expect.text) row.expect.text(r.stdout);
    });
  }
});
