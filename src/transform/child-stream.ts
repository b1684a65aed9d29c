/**
 * A child process as a Duplex stream: bytes in on stdin, out on stdout.
 * The readable side ends only after the child has exited 0, so a tool that
 * fails late (corrupt input) fails the pipeline instead of looking like EOF.
 * Destroying the stream kills the child; the child is registered so the CLI
 * kills it if ingot exits while it runs (src/exec/children.ts).
 */
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import { trackChild } from '../exec/children.js';

export class ChildStream extends Duplex {
  readonly #child;
  #stderr = '';
  #stdoutEnded = false;
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(
    command: string,
    args: readonly string[],
    private readonly makeError: (message: string) => Error,
  ) {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 });
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child = child;
    trackChild(child);
    child.stderr.on('data', (data: Buffer) => {
      this.#stderr = (this.#stderr + data.toString()).slice(-4000);
    });
    child.stdout.on('data', (data: Buffer) => {
      if (!this.push(data)) child.stdout.pause();
    });
    child.stdout.on('end', () => {
      this.#stdoutEnded = true;
      this.#maybeEnd();
    });
    // EPIPE on stdin means the child died; its exit status tells why.
    child.stdin.on('error', () => undefined);
    child.on('error', (error) => this.destroy(this.makeError(`cannot run ${command}: ${error.message}`)));
    child.on('close', (code, signal) => {
      this.#exit = { code, signal };
      this.#maybeEnd();
    });
  }

  #maybeEnd(): void {
    if (!this.#exit || !this.#stdoutEnded || this.destroyed) return;
    const { code, signal } = this.#exit;
    if (code === 0) this.push(null);
    else this.destroy(this.makeError(this.#stderr.trim() || `exited with ${signal ?? `code ${code}`}`));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#child.stdin.write(chunk)) callback();
    else this.#child.stdin.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#child.stdin.end(callback);
  }

  override _read(): void {
    this.#child.stdout.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
    callback(error);
  }
}
