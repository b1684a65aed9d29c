import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IngotError } from '../../src/errors.js';
import {
  decodeHeader,
  encodeHeader,
  FileType,
  HEADER_SIZE,
  headerLength,
  MAX_NAME_BYTES,
  pad4,
  trailerHeader,
  type CpioHeader,
} from '../../src/initramfs/header.js';

const base: CpioHeader = {
  ino: 1,
  mode: FileType.file | 0o644,
  uid: 0,
  gid: 0,
  nlink: 1,
  mtime: 0,
  fileSize: 0,
  devMajor: 0,
  devMinor: 0,
  rdevMajor: 0,
  rdevMinor: 0,
  check: 0,
  name: 'init',
};

describe('cpio newc header codec', () => {
  const cases: [string, Partial<CpioHeader>][] = [
    ['a plain file', {}],
    ['a directory', { mode: FileType.directory | 0o755, nlink: 2, name: 'usr/lib' }],
    ['a char device', { mode: FileType.char | 0o600, rdevMajor: 5, rdevMinor: 1, name: 'dev/console' }],
    ['maximum 32-bit values', { ino: 0xffffffff, uid: 0xffffffff, gid: 0xfffffffe, mtime: 0xffffffff, fileSize: 0xffffffff, check: 0xffffffff }],
    ['a UTF-8 name', { name: 'etc/größe-😀' }],
    ['a 1-byte name (padding 2)', { name: 'a' }],
    ['a 2-byte name (padding 1)', { name: 'ab' }],
    ['a 3-byte name (padding 0)', { name: 'abc' }],
    ['a 4-byte name (padding 3)', { name: 'abcd' }],
    ['the longest name', { name: 'x'.repeat(MAX_NAME_BYTES) }],
    ['the trailer', trailerHeader()],
  ];
  for (const [label, patch] of cases) {
    it(`round-trips ${label}`, () => {
      const header = { ...base, ...patch };
      const bytes = encodeHeader(header);
      assert.equal(bytes.length % 4, 0, 'header + name is padded to 4');
      assert.equal(bytes.length, headerLength(Buffer.byteLength(header.name)));
      assert.equal(bytes.toString('latin1', 0, 6), '070701');
      const decoded = decodeHeader(bytes);
      assert.ok(decoded);
      assert.equal(decoded.length, bytes.length);
      assert.deepEqual(decoded.header, header);
      // Padding bytes after the NUL are all zero.
      const nameEnd = HEADER_SIZE + Buffer.byteLength(header.name);
      assert.ok(bytes.subarray(nameEnd).every((b) => b === 0));
    });
  }

  it('lays out the fields in newc order as 8 upper-case hex digits', () => {
    const bytes = encodeHeader({ ...base, ino: 0xabc, mode: 0o100755, fileSize: 1234, name: 'init' });
    assert.equal(
      bytes.toString('latin1', 0, HEADER_SIZE),
      `070701${'00000ABC'}${'000081ED'}${'0'.repeat(16)}${'00000001'}${'0'.repeat(8)}${'000004D2'}${'0'.repeat(8 * 4)}${'00000005'}${'0'.repeat(8)}`,
    );
  });

  it('pads to multiples of 4', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5].map(pad4), [0, 3, 2, 1, 0, 3]);
  });

  const limits: [string, Partial<CpioHeader>, RegExp][] = [
    ['a file of 4 GiB', { fileSize: 2 ** 32 }, /fileSize .* beyond the format's 32-bit limit/],
    ['a negative uid', { uid: -1 }, /uid .* 32-bit limit/],
    ['a fractional mtime', { mtime: 1.5 }, /mtime/],
    ['a name over PATH_MAX', { name: 'x'.repeat(MAX_NAME_BYTES + 1) }, /too long: 4096 bytes \(the limit is 4095\)/],
    ['an empty name', { name: '' }, /is empty/],
    ['a NUL in the name', { name: 'a\0b' }, /NUL/],
  ];
  for (const [label, patch, message] of limits) {
    it(`refuses ${label} with INGOT_CPIO_LIMIT`, () => {
      assert.throws(
        () => encodeHeader({ ...base, ...patch }),
        (error: unknown) => {
          assert.ok(error instanceof IngotError);
          assert.equal(error.code, 'INGOT_CPIO_LIMIT');
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }

  it('waits for more bytes on a partial header or name', () => {
    const bytes = encodeHeader({ ...base, name: 'bin/busybox' });
    assert.equal(decodeHeader(bytes.subarray(0, 50)), undefined);
    assert.equal(decodeHeader(bytes.subarray(0, HEADER_SIZE + 3)), undefined);
    assert.ok(decodeHeader(bytes));
  });

  const corrupt: [string, (b: Buffer) => void, RegExp][] = [
    ['an odc magic', (b) => b.write('070707', 0, 'latin1'), /only the newc format/],
    ['a gzip stream', (b) => b.set([0x1f, 0x8b], 0), /not a cpio archive, or it is compressed/],
    ['a non-hex digit', (b) => b.write('G', 10, 'latin1'), /field 1 .* expected 8 hex digits/],
    ['a missing NUL after the name', (b) => b.write('X', HEADER_SIZE + 4, 'latin1'), /not NUL-terminated/],
  ];
  for (const [label, damage, message] of corrupt) {
    it(`reports ${label} as INGOT_CPIO_INVALID`, () => {
      const bytes = encodeHeader(base);
      damage(bytes);
      assert.throws(
        () => decodeHeader(bytes),
        (error: unknown) => error instanceof IngotError && error.code === 'INGOT_CPIO_INVALID' && message.test(`${error.message} ${error.hint ?? ''}`),
      );
    });
  }

  it('decodes the crc variant (070702) too', () => {
    const bytes = encodeHeader({ ...base, check: 42 }, '070702');
    assert.equal(decodeHeader(bytes)?.magic, '070702');
    assert.equal(decodeHeader(bytes)?.header.check, 42);
  });
});
