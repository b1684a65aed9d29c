/**
 * Decompression straight into a file by the decompressor itself: a native
 * decompressor (xz, zstd) gets the store's temporary file as its stdout, and
 * ingot reads back what it wrote — from the page cache, right behind it — to
 * hash it and count it against the cap.
 *
 *   source ─► hash ─► child stdin          child stdout = the file
 *                                            │
 *                  read back (2 MiB) ◄───────┘ ─► cap ─► hashes
 *
 * Against piping the output through ingot (ChildStream), this saves the copy
 * out of a pipe plus the copy back into the file per byte, and 1 GiB of
 * short-lived Buffers per GiB with the collections they start: the read-back
 * is `readFileChunks` following the growing file (its pooled 2 MiB buffers,
 * the next read in flight while a chunk is hashed), with the same early
 * write-backs as every durable write (`WriteBack`). The bytes hashed are the file's own bytes. Nothing else
 * changes for the caller: the file is still a temporary name that is fsynced
 * and renamed only after both digests match, and removed otherwise.
 *
 * The cap is checked as the file is read back, so the child can write a little
 * past it before it is killed (what it writes while one read is hashed); the
 * temporary file is removed with the failed upload.
 */
import { spawn } from 'node:child_process';
import type { FileHandle } from 'node:fs/promises';
import type { Readable, Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { trackChild } from '../exec/children.js';
import { readFileChunks } from '../digest/hashing.js';
import { WRITEBACK_BYTES, WriteBack } from '../util/durable-write.js';

/** A native decompressor run as a child: `command args` reads stdin and writes stdout. */
export interface NativeTool {
  command: string;
  args: readonly string[];
  /** The error for a failed run, from the tool's stderr (or its exit status). */
  makeError(message: string): Error;
}

/** A file to decompress into: open for writing at offset 0 and empty, and its path (to read it back). */
export interface DirectFile {
  handle: FileHandle;
  path: string;
}

export interface DecompressIntoFileOptions {
  /** The compressed bytes: a stream and the stages it goes through before the decompressor. */
  input: readonly [Readable, ...Duplex[]];
  tool: NativeTool;
  file: DirectFile;
  /** Every byte written, in order, as it is read back; throw to stop (the child is killed). Must not keep the chunk. */
  onChunk(chunk: Buffer): void;
  signal?: AbortSignal;
  /**
   * The error for a tool that failed to write the file (disk full, quota,
   * I/O error) rather than to decode: those are the store's failures, not
   * the data's. Default: the tool's own error.
   */
  writeError?(message: string): Error;
  /** Bytes between two early write-backs of the file (fdatasync, one at a time), as durableWriteStream. */
  writeback?: number;
}

/** A tool's message about its output file, not its input. */
const WRITE_FAILED = /write error|no space left|disk quota|file too large|input\/output error|SIGXFSZ/i;
/** How long to wait before looking again when the reader has caught up with the writer. */
const POLL_MS = 2;

/**
 * Runs `tool` with `input` on its stdin and `file` as its stdout, and hands
 * every byte it writes to `onChunk`. Resolves with the size once the tool has
 * exited 0 and its last byte has been read back; rejects with the first
 * failure (the input's, the tool's own error, `onChunk`'s, an abort), after
 * killing the tool. The caller still owns `file` (fsync, rename or removal).
 */
export async function decompressIntoFile(options: DecompressIntoFileOptions): Promise<number> {
  const { tool, file, signal } = options;
  signal?.throwIfAborted();
  const child = spawn(tool.command, tool.args, { stdio: ['pipe', file.handle.fd, 'pipe'] });
  trackChild(child);
  let stderr = '';
  child.stderr!.on('data', (data: Buffer) => {
    stderr = (stderr + data.toString()).slice(-4000);
  });
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exit = new Promise<void>((resolve, reject) => {
    child.once('error', (error) => reject(tool.makeError(`cannot run ${tool.command}: ${error.message}`)));
    child.once('close', (code, how) => {
      exited = { code, signal: how };
      resolve();
    });
  });
  exit.catch(() => undefined);
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  // EPIPE on stdin means the child died: its exit status tells why.
  child.stdin!.on('error', () => undefined);
  /**
   * The input's failure while the tool still ran (a network error, an
   * abort): the cause of whatever the tool then reports. A tool that dies
   * first (corrupt data) makes the input fail too — EPIPE, or a premature
   * close, since Node closes a child's stdin when it exits — and then the
   * tool's own message says why.
   */
  let inputError: unknown;
  const feeding = pipeline([...options.input, child.stdin!], signal ? { signal } : {}).catch((error: unknown) => {
    const toolGone = child.exitCode !== null || child.signalCode !== null || (error as NodeJS.ErrnoException).code === 'EPIPE';
    if (!toolGone) inputError = error;
    // The tool would wait for more input (or finish a truncated stream): stop it.
    kill();
  });

  const early = new WriteBack(file.handle, options.writeback ?? WRITEBACK_BYTES);
  let size = 0;
  /** Set once the tool had exited before a read began: the next empty read is the end. */
  let lastRead = false;
  try {
    await readFileChunks(
      file.path,
      (chunk) => {
        options.onChunk(chunk);
        size += chunk.length;
        early.wrote(size);
      },
      {
        follow: async () => {
          if (lastRead) return false;
          // Exited: every byte it wrote is in the file; read once more to take what came since.
          if (exited) return (lastRead = true);
          // An input that failed has killed the tool (see feeding): its exit ends the wait.
          await Promise.race([exit, sleep(POLL_MS)]);
          return true;
        },
      },
    );
    await exit;
    await feeding;
    if (inputError !== undefined) throw inputError;
    const status = exited!;
    if (status.code !== 0) {
      const limit = status.signal === 'SIGXFSZ' ? ' (the file size limit, ulimit -f)' : '';
      const message = stderr.trim() || `exited with ${status.signal ?? `code ${status.code}`}${limit}`;
      // xz and zstd say "Write error: <strerror>" when the file cannot take their output.
      throw WRITE_FAILED.test(message) && options.writeError ? options.writeError(message) : tool.makeError(message);
    }
    await early.settled();
    return size;
  } catch (error) {
    // The input's own failure, if it came first (stopping the input now makes it fail too).
    const inputFailed = inputError;
    kill();
    for (const stage of options.input) stage.destroy();
    await exit.catch(() => undefined);
    await feeding;
    throw inputFailed ?? error;
  } finally {
    await early.settled().catch(() => undefined);
  }
}
