/**
 * One line per member, laid out like GNU `cpio -itv` (ls -l style), so the
 * two listings can be compared by eye or by diff. Times are shown in UTC;
 * uid 0 / gid 0 show as "root", other ids as numbers. Names are escaped
 * (`escapeName`); a name without control characters or backslashes is
 * printed as GNU prints it.
 */
import { FileType, S_IFMT, type CpioHeader } from './header.js';

const TYPE_CHAR: Record<number, string> = {
  [FileType.socket]: 's',
  [FileType.symlink]: 'l',
  [FileType.file]: '-',
  [FileType.block]: 'b',
  [FileType.directory]: 'd',
  [FileType.char]: 'c',
  [FileType.fifo]: 'p',
};
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const SIX_MONTHS = (365.2425 / 2) * 86400;

/**
 * A name as it may be printed on a terminal, like `ls -b`: control
 * characters (C0, DEL, C1), line and paragraph separators and bidi overrides
 * become escapes (\n, \t, \r, \xNN, \u{NNNN}) and a backslash is doubled, so an
 * archive cannot forge listing lines or send escape sequences.
 */
export function escapeName(name: string): string {
  return name.replace(UNPRINTABLE, (c) => {
    const named = ESCAPES[c];
    if (named) return named;
    const code = c.codePointAt(0)!;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\\\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const ESCAPES: Record<string, string> = { '\n': '\\n', '\t': '\\t', '\r': '\\r', '\\': '\\\\' };

/** "drwxr-xr-x" from a full st_mode. */
export function modeString(mode: number): string {
  const type = TYPE_CHAR[mode & S_IFMT] ?? '?';
  const bits = ['r', 'w', 'x', 'r', 'w', 'x', 'r', 'w', 'x'].map((c, i) => (mode & (0o400 >> i) ? c : '-'));
  const special = (i: number, bit: number, on: string, off: string) => {
    if (mode & bit) bits[i] = bits[i] === 'x' ? on : off;
  };
  special(2, 0o4000, 's', 'S');
  special(5, 0o2000, 's', 'S');
  special(8, 0o1000, 't', 'T');
  return type + bits.join('');
}

/** A `cpio -tv` line for one member (`target` for symlinks). `nowSeconds` decides between "HH:MM" and the year. */
export function listingLine(header: CpioHeader, target?: string, nowSeconds = Math.floor(Date.now() / 1000)): string {
  const type = header.mode & S_IFMT;
  const owner = (id: number) => (id === 0 ? 'root' : String(id)).padEnd(8);
  const size =
    type === FileType.char || type === FileType.block
      ? `${String(header.rdevMajor).padStart(3)}, ${String(header.rdevMinor).padStart(3)}`
      : String(header.fileSize).padStart(8);
  const when = new Date(header.mtime * 1000);
  const day = `${MONTHS[when.getUTCMonth()]} ${String(when.getUTCDate()).padStart(2)}`;
  const recent = Math.abs(nowSeconds - header.mtime) < SIX_MONTHS;
  const time = recent
    ? `${day} ${String(when.getUTCHours()).padStart(2, '0')}:${String(when.getUTCMinutes()).padStart(2, '0')}`
    : `${day}  ${when.getUTCFullYear()}`;
  const name = target !== undefined ? `${escapeName(header.name)} -> ${escapeName(target)}` : escapeName(header.name);
  return `${modeString(header.mode)} ${String(header.nlink).padStart(3)} ${owner(header.uid)} ${owner(header.gid)} ${size} ${time} ${name}`;
}
