/**
 * A pure POSIX tar (ustar + pax) header codec, enough to write the bundles
 * ingot transfers into guests: regular files, directories and symbolic
 * links. A name longer than ustar's 100 bytes is split into prefix + name
 * where possible, otherwise it (and a long link target, or a size past
 * ustar's 8 GiB) travels in a pax extended header ('x'), which GNU tar,
 * bsdtar and busybox tar all read. Owners are always 0/0 (root): the guest
 * side extracts with --no-same-owner anyway.
 */

/** Tar block size. */
export const BLOCK = 512;

/** One archive member's header fields. */
export interface TarHeader {
  /** Relative POSIX path; directories end with "/". */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits (0o7777 at most). */
  mode: number;
  /** Bytes of content (files only). */
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Symlink target. */
  linkname?: string;
}

const TYPEFLAG = { file: '0', dir: '5', symlink: '2' } as const;
const MAX_OCTAL_SIZE = 0o77777777777; // 11 octal digits

/** The header block(s) for `header`: a pax header first when ustar cannot hold the fields. */
export function encodeHeader(header: TarHeader): Buffer {
  const pax: [string, string][] = [];
  let name = header.path;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const split = splitName(name);
    if (split) [prefix, name] = split;
    else {
      pax.push(['path', header.path]);
      name = truncateBytes(header.path, 100);
    }
  }
  let linkname = header.linkname ?? '';
  if (Buffer.byteLength(linkname) > 100) {
    pax.push(['linkpath', linkname]);
    linkname = truncateBytes(linkname, 100);
  }
  let size = header.type === 'file' ? header.size : 0;
  if (size > MAX_OCTAL_SIZE) {
    pax.push(['size', String(size)]);
    size = 0;
  }
  const ustar = ustarBlock({ name, prefix, mode: header.mode, size, mtime: header.mtime, typeflag: TYPEFLAG[header.type], linkname });
  if (!pax.length) return ustar;
  const body = Buffer.from(pax.map(([k, v]) => paxRecord(k, v)).join(''));
  const paxHeader = ustarBlock({
    name: truncateBytes(`PaxHeaders/${name}`, 100),
    prefix: '',
    mode: 0o644,
    size: body.length,
    mtime: header.mtime,
    typeflag: 'x',
    linkname: '',
  });
  return Buffer.concat([paxHeader, body, padding(body.length), ustar]);
}

/** Zero bytes that pad `size` bytes of content to a whole block. */
export function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

/** The end-of-archive marker: two zero blocks. */
export function endOfArchive(): Buffer {
  return Buffer.alloc(2 * BLOCK);
}

/** Reads the fields this codec writes back from one ustar header block (for tests and checks). */
export function decodeHeader(
  block: Buffer,
): { path: string; type: string; mode: number; size: number; mtime: number; linkname: string; checksumOk: boolean } | undefined {
  if (block.length < BLOCK || block.every((b) => b === 0)) return undefined;
  const str = (offset: number, length: number) => {
    const raw = block.subarray(offset, offset + length);
    const end = raw.indexOf(0);
    return raw.subarray(0, end < 0 ? length : end).toString('utf8');
  };
  const oct = (offset: number, length: number) => parseInt(str(offset, length).trim() || '0', 8);
  const prefix = str(345, 155);
  const name = str(0, 100);
  const stored = oct(148, 8);
  return {
    path: prefix ? `${prefix}/${name}` : name,
    type: str(156, 1),
    mode: oct(100, 8),
    size: oct(124, 12),
    mtime: oct(136, 12),
    linkname: str(157, 100),
    checksumOk: stored === checksum(block),
  };
}

interface UstarFields {
  name: string;
  prefix: string;
  mode: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
}

function ustarBlock(f: UstarFields): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(f.name, 0, 100, 'utf8');
  writeOctal(block, 100, 8, f.mode & 0o7777);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, f.size);
  writeOctal(block, 136, 12, Math.max(0, Math.floor(f.mtime)));
  block.write(f.typeflag, 156, 1, 'latin1');
  block.write(f.linkname, 157, 100, 'utf8');
  block.write('ustar\0', 257, 6, 'latin1');
  block.write('00', 263, 2, 'latin1');
  block.write('root', 265, 32, 'latin1');
  block.write('root', 297, 32, 'latin1');
  block.write(f.prefix, 345, 155, 'utf8');
  // The checksum is computed with its own field as eight spaces.
  block.fill(0x20, 148, 156);
  const sum = checksum(block);
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return block;
}

function checksum(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum;
}

function writeOctal(block: Buffer, offset: number, length: number, value: number) {
  block.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'latin1');
}

// ustar splits a long path at a "/" into prefix (≤155 bytes) and name (≤100 bytes).
function splitName(full: string): [string, string] | undefined {
  const dir = full.endsWith('/');
  const body = dir ? full.slice(0, -1) : full;
  for (let i = body.indexOf('/'); i >= 0; i = body.indexOf('/', i + 1)) {
    const prefix = body.slice(0, i);
    const name = body.slice(i + 1) + (dir ? '/' : '');
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name.length > 0) return [prefix, name];
  }
  return undefined;
}

// A pax record: "<length> <key>=<value>\n", where length counts the whole record, itself included.
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(rest) + 1;
  while (String(length).length + Buffer.byteLength(rest) !== length) length = String(length).length + Buffer.byteLength(rest);
  return `${length}${rest}`;
}

function truncateBytes(text: string, max: number): string {
  let out = text;
  while (Buffer.byteLength(out) > max) out = out.slice(0, -1);
  return out;
}
