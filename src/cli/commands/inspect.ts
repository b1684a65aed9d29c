/** `ingot inspect FILE`: lists a cpio newc archive (gzip, zstd, xz or plain) like `cpio -itv`. */
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ErrorCode, ExitCode, IngotError, UsageError } from '../../errors.js';
import { FileType, S_IFMT, type CpioHeader } from '../../initramfs/header.js';
import { listingLine, modeString } from '../../initramfs/listing.js';
import { DEFAULT_MAX_DECOMPRESSED, MAX_NESTING, openArchive } from '../../initramfs/reader.js';
import { formatBytes, parseSize, type DecompressorPreference } from '../../transform/decompress.js';
import { str, type Command } from '../command.js';

const KIND: Record<number, string> = {
  [FileType.file]: 'file',
  [FileType.directory]: 'directory',
  [FileType.symlink]: 'symlink',
  [FileType.char]: 'char',
  [FileType.block]: 'block',
  [FileType.fifo]: 'fifo',
  [FileType.socket]: 'socket',
};

export const command: Command = {
  name: 'inspect',
  summary: 'List the members of an initramfs / cpio newc archive (compressed or not), like cpio -itv',
  usage: 'inspect FILE [--max-decompressed-size SIZE] [--decompressor auto|native|builtin] [--json]',
  description: [
    'Recognises gzip, zstd, xz and uncompressed newc, and several archives concatenated. Times are shown in UTC.',
    'Safe on hostile files: the listing is streamed, names are printed with control characters escaped (\\n, \\x1b, …),',
    `decompression stops at --max-decompressed-size (default ${formatBytes(DEFAULT_MAX_DECOMPRESSED)}, INGOT_DECOMPRESS_LIMIT) and`,
    `archives nested more than ${MAX_NESTING} deep are refused (INGOT_CPIO_LIMIT).`,
  ].join('\n'),
  positionals: true,
  options: {
    'max-decompressed-size': {
      type: 'string',
      valueName: 'SIZE',
      description: `Stop once decompression (all layers together) has produced this much, e.g. 16GiB (default: ${formatBytes(DEFAULT_MAX_DECOMPRESSED)})`,
    },
    decompressor: {
      type: 'string',
      valueName: 'auto|native|builtin',
      description: 'auto: fastest available (default); native: xz/zstd binaries; builtin: no external programs',
    },
  },
  async run(args, ctx) {
    const [file, ...extra] = args.positionals;
    if (!file || extra.length > 0) throw new UsageError('expected exactly one FILE', { hint: 'ingot inspect initramfs.img' });
    const preference = (str(args, 'decompressor') ?? 'auto') as DecompressorPreference;
    if (!['auto', 'native', 'builtin'].includes(preference)) throw new UsageError(`--decompressor must be auto, native or builtin, got "${preference}"`);
    const maxRaw = str(args, 'max-decompressed-size');
    const max = maxRaw === undefined ? DEFAULT_MAX_DECOMPRESSED : parseSize(maxRaw);
    if (max === undefined || !Number.isSafeInteger(max)) throw new UsageError(`--max-decompressed-size must be a size like 4GiB, got "${maxRaw}"`);
    const full = path.resolve(ctx.cwd, file);
    await fs.access(full).catch((error: NodeJS.ErrnoException) => {
      throw new IngotError(ErrorCode.sourceNotFound, `cannot read ${file}: ${error.code ?? error.message}`, { path: full, exitCode: ExitCode.usage });
    });
    const { compression, entries } = await openArchive(createReadStream(full, { highWaterMark: 1 << 20, signal: ctx.signal }), {
      decompressor: preference,
      maxDecompressedSize: max,
    });
    // Streamed: an archive of millions of members (or of 4 KiB symlink targets) is never held as one string.
    const listing = ctx.out.stream({ file: full, compression }, 'entries');
    let count = 0;
    let bytes = 0;
    for await (const { header, target } of entries) {
      bytes += header.fileSize;
      count++;
      listing.item(entryJson(header, target), () => listingLine(header, target));
    }
    ctx.log.info(`${count} entries, ${bytes} bytes of data`, { compression });
    listing.end();
  },
};

function entryJson(header: CpioHeader, target: string | undefined): Record<string, unknown> {
  const type = header.mode & S_IFMT;
  return {
    name: header.name,
    type: KIND[type] ?? 'unknown',
    mode: (header.mode & 0o7777).toString(8).padStart(4, '0'),
    modeString: modeString(header.mode),
    uid: header.uid,
    gid: header.gid,
    nlink: header.nlink,
    ino: header.ino,
    size: header.fileSize,
    mtime: header.mtime,
    ...(type === FileType.char || type === FileType.block ? { major: header.rdevMajor, minor: header.rdevMinor } : {}),
    ...(target !== undefined ? { target } : {}),
  };
}
