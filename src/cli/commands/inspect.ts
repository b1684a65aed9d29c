/** `ingot inspect FILE`: lists a cpio newc archive (gzip, zstd, xz or plain) like `cpio -itv`. */
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ErrorCode, ExitCode, IngotError, UsageError } from '../../errors.js';
import { FileType, S_IFMT } from '../../initramfs/header.js';
import { listingLine, modeString } from '../../initramfs/listing.js';
import { openArchive } from '../../initramfs/reader.js';
import type { Command } from '../command.js';

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
  usage: 'inspect FILE [--json]',
  description: 'Recognises gzip, zstd, xz and uncompressed newc, and several archives concatenated. Times are shown in UTC.',
  positionals: true,
  options: {},
  async run(args, ctx) {
    const [file, ...extra] = args.positionals;
    if (!file || extra.length > 0) throw new UsageError('expected exactly one FILE', { hint: 'ingot inspect initramfs.img' });
    const full = path.resolve(ctx.cwd, file);
    await fs.access(full).catch((error: NodeJS.ErrnoException) => {
      throw new IngotError(ErrorCode.sourceNotFound, `cannot read ${file}: ${error.code ?? error.message}`, { path: full, exitCode: ExitCode.usage });
    });
    const { compression, entries } = await openArchive(createReadStream(full, { highWaterMark: 1 << 20, signal: ctx.signal }));
    const rows: Record<string, unknown>[] = [];
    const lines: string[] = [];
    let bytes = 0;
    for await (const { header, target } of entries) {
      bytes += header.fileSize;
      if (ctx.json) {
        const type = header.mode & S_IFMT;
        rows.push({
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
        });
      } else {
        lines.push(listingLine(header, target));
      }
    }
    ctx.log.info(`${ctx.json ? rows.length : lines.length} entries, ${bytes} bytes of data`, { compression });
    ctx.out.result({ file: full, compression, entries: rows }, () => lines);
  },
};
