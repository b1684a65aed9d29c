/**
 * The cpio "newc" header as a pure codec (what the Linux kernel unpacks into
 * its rootfs). A header is 110 ASCII bytes: the magic "070701" and thirteen
 * 8-digit hexadecimal fields, followed by the NUL-terminated name; header and
 * name together are padded with NULs to a multiple of 4, and so is the data
 * that follows. Every value must fit in 32 bits; names are capped at PATH_MAX.
 *
 *   magic ino mode uid gid nlink mtime filesize devmajor devminor
 *   rdevmajor rdevminor namesize check
 */
import { ErrorCode, IngotError } from '../errors.js';

export const MAGIC_NEWC = '070701';
/** The "crc" variant: same layout, `check` holds a byte sum of the data. */
export const MAGIC_CRC = '070702';
export const HEADER_SIZE = 110;
export const TRAILER_NAME = 'TRAILER!!!';
/** Longest name the kernel accepts (PATH_MAX including the NUL). */
export const MAX_NAME_BYTES = 4095;
export const MAX_U32 = 0xffff_ffff;

/** File type bits of `mode` (S_IFMT and friends). */
export const S_IFMT = 0o170000;
export const FileType = {
  socket: 0o140000,
  symlink: 0o120000,
  file: 0o100000,
  block: 0o060000,
  directory: 0o040000,
  char: 0o020000,
  fifo: 0o010000,
} as const;

/** One decoded header; `name` is the path inside the archive. */
export interface CpioHeader {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  fileSize: number;
  devMajor: number;
  devMinor: number;
  rdevMajor: number;
  rdevMinor: number;
  check: number;
  name: string;
}

const FIELDS = [
  'ino',
  'mode',
  'uid',
  'gid',
  'nlink',
  'mtime',
  'fileSize',
  'devMajor',
  'devMinor',
  'rdevMajor',
  'rdevMinor',
] as const satisfies readonly (keyof CpioHeader)[];

/** Bytes of NUL padding after `length` bytes to reach a multiple of 4. */
export function pad4(length: number): number {
  return (4 - (length % 4)) % 4;
}

/** Total bytes of header + name + padding for a name of `nameBytes` bytes (without NUL). */
export function headerLength(nameBytes: number): number {
  const raw = HEADER_SIZE + nameBytes + 1;
  return raw + pad4(raw);
}

/** Encodes header + NUL-terminated name + padding. Throws INGOT_CPIO_LIMIT for values the format cannot hold. */
export function encodeHeader(header: CpioHeader, magic: string = MAGIC_NEWC): Buffer {
  const name = Buffer.from(header.name, 'utf8');
  const problem = nameProblem(header.name, name.length);
  if (problem) throw limitError(`cpio entry name ${problem}`, header.name);
  const out = Buffer.alloc(headerLength(name.length));
  out.write(magic, 0, 'latin1');
  let offset = 6;
  for (const field of FIELDS) {
    offset = writeHex(out, offset, header[field], field, header.name);
  }
  offset = writeHex(out, offset, name.length + 1, 'namesize', header.name);
  writeHex(out, offset, header.check, 'check', header.name);
  name.copy(out, HEADER_SIZE);
  return out;
}

/** The result of decoding: the header and how many bytes it took (name and padding included). */
export interface Decoded {
  header: CpioHeader;
  length: number;
  magic: string;
}

/**
 * Decodes one header at `offset`. Returns undefined when `buf` does not yet
 * hold the whole header and name (a streaming reader then waits for more).
 * Throws INGOT_CPIO_INVALID on a bad magic, non-hex digits or a bad name.
 */
export function decodeHeader(buf: Buffer, offset = 0): Decoded | undefined {
  if (buf.length - offset < HEADER_SIZE) return undefined;
  const magic = buf.toString('latin1', offset, offset + 6);
  if (magic !== MAGIC_NEWC && magic !== MAGIC_CRC) {
    const hint = magic.startsWith('0707') ? 'only the newc format (cpio -H newc) is supported' : 'the data is not a cpio archive, or it is compressed';
    throw new IngotError(ErrorCode.cpioInvalid, `not a cpio newc header at byte ${offset}: magic ${JSON.stringify(magic)}`, { hint });
  }
  const values: number[] = [];
  for (let i = 0; i < 13; i++) {
    const start = offset + 6 + i * 8;
    const text = buf.toString('latin1', start, start + 8);
    if (!/^[0-9a-fA-F]{8}$/.test(text)) {
      throw new IngotError(ErrorCode.cpioInvalid, `bad cpio header at byte ${offset}: field ${i + 1} is ${JSON.stringify(text)}, expected 8 hex digits`);
    }
    values.push(parseInt(text, 16));
  }
  const nameSize = values[11]!;
  if (nameSize < 1 || nameSize > MAX_NAME_BYTES + 1) {
    throw new IngotError(ErrorCode.cpioInvalid, `bad cpio header at byte ${offset}: name size ${nameSize} (expected 1…${MAX_NAME_BYTES + 1})`);
  }
  const length = headerLength(nameSize - 1);
  if (buf.length - offset < length) return undefined;
  const nameStart = offset + HEADER_SIZE;
  if (buf[nameStart + nameSize - 1] !== 0) {
    throw new IngotError(ErrorCode.cpioInvalid, `bad cpio header at byte ${offset}: name is not NUL-terminated`);
  }
  const header = Object.fromEntries(FIELDS.map((f, i) => [f, values[i]!])) as unknown as CpioHeader;
  header.check = values[12]!;
  header.name = buf.toString('utf8', nameStart, nameStart + nameSize - 1);
  return { header, length, magic };
}

/** Why `name` cannot be a cpio name, or undefined. */
export function nameProblem(name: string, bytes = Buffer.byteLength(name, 'utf8')): string | undefined {
  if (bytes === 0) return 'is empty';
  if (name.includes('\0')) return 'contains a NUL byte';
  if (bytes > MAX_NAME_BYTES) return `is too long: ${bytes} bytes (the limit is ${MAX_NAME_BYTES})`;
  return undefined;
}

/** The header that ends an archive. */
export function trailerHeader(): CpioHeader {
  return {
    ino: 0,
    mode: 0,
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
    name: TRAILER_NAME,
  };
}

function writeHex(out: Buffer, offset: number, value: number, field: string, name: string): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_U32) {
    throw limitError(`cpio field ${field} of "${name}" is ${value}, beyond the format's 32-bit limit (0…${MAX_U32})`, name);
  }
  out.write(value.toString(16).toUpperCase().padStart(8, '0'), offset, 'latin1');
  return offset + 8;
}

function limitError(message: string, name: string): IngotError {
  return new IngotError(ErrorCode.cpioLimit, message, {
    path: name.length > 200 ? `${name.slice(0, 200)}…` : name,
    hint: 'newc archives hold 32-bit values (files under 4 GiB, ids and device numbers below 2^32) and names up to 4095 bytes',
  });
}
