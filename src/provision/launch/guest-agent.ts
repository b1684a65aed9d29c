/**
 * A client for qemu-guest-agent over QEMU's virtio-serial chardev socket.
 *
 * The socket accepts before the guest's agent runs, and requests written
 * then sit in the port until the agent starts and answers them late. So the
 * session opens with `guest-sync-delimited` carrying a fresh id, repeated
 * until that id comes back; the agent prefixes that reply with a 0xFF byte
 * (dropped here) and stale replies with other ids are ignored. After that,
 * one request at a time, newline-delimited JSON.
 */
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, IngotError } from '../../errors.js';

/** Output of a command run in the guest. */
export interface GuestExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** A connected, synchronised guest agent session. */
export class GuestAgent {
  #socket: Socket;
  #buffer = '';
  #waiters: ((msg: Record<string, unknown>) => void)[] = [];
  // Messages that arrived while nobody waited (several can come in one chunk).
  #inbox: Record<string, unknown>[] = [];
  #closed = false;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.#onData(chunk));
    socket.on('close', () => {
      this.#closed = true;
    });
    socket.on('error', () => undefined);
  }

  /** Connects to `socketPath` and syncs; retries until `deadline` (epoch ms). */
  static async connect(socketPath: string, opts: { deadline: number; signal?: AbortSignal; isAlive?: () => boolean }): Promise<GuestAgent> {
    let lastError = 'no answer';
    while (Date.now() < opts.deadline) {
      opts.signal?.throwIfAborted();
      if (opts.isAlive && !opts.isAlive()) throw new IngotError(ErrorCode.launchFailed, 'the VM exited before its guest agent answered');
      let socket: Socket | undefined;
      try {
        socket = await openSocket(socketPath);
      } catch (error) {
        lastError = (error as Error).message;
        await sleep(1000, undefined, { signal: opts.signal });
        continue;
      }
      const agent = new GuestAgent(socket);
      // Keep one connection; re-send sync with new ids until one comes back.
      while (Date.now() < opts.deadline && !agent.#closed) {
        opts.signal?.throwIfAborted();
        if (opts.isAlive && !opts.isAlive()) {
          agent.close();
          throw new IngotError(ErrorCode.launchFailed, 'the VM exited before its guest agent answered');
        }
        const id = Math.floor(Math.random() * 2 ** 31);
        agent.#write({ execute: 'guest-sync-delimited', arguments: { id } });
        const reply = await agent.#next(3000, (m) => m.return === id);
        if (reply) {
          // Anything older than our sync is an answer to someone else.
          agent.#inbox = [];
          return agent;
        }
      }
      agent.close();
      lastError = 'connection closed';
    }
    throw new IngotError(ErrorCode.launchTimeout, `the guest agent did not answer on ${socketPath} (${lastError})`, { path: socketPath });
  }

  /** Sends one command and returns its `return` value. */
  command<T = unknown>(execute: string, args?: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
    const task = this.#queue.then(async () => {
      // A reply that came too late must not be taken for this command's: re-sync first.
      if (this.#desynced) await this.#resync(timeoutMs);
      this.#write(args ? { execute, arguments: args } : { execute });
      const reply = await this.#next(timeoutMs, () => true);
      if (!reply) {
        this.#desynced = true;
        throw new IngotError(ErrorCode.launchTimeout, `guest agent: no reply to ${execute} within ${timeoutMs} ms`);
      }
      if (reply.error) {
        const err = reply.error as { desc?: string; class?: string };
        throw new IngotError(ErrorCode.launchFailed, `guest agent: ${execute} failed: ${err.desc ?? err.class ?? 'error'}`);
      }
      return reply.return as T;
    });
    this.#queue = task.catch(() => undefined);
    return task;
  }

  #desynced = false;

  /** guest-sync-delimited with a fresh id, dropping every message before its echo. */
  async #resync(timeoutMs: number): Promise<void> {
    const id = Math.floor(Math.random() * 2 ** 31);
    this.#write({ execute: 'guest-sync-delimited', arguments: { id } });
    const reply = await this.#next(timeoutMs, (m) => m.return === id);
    if (!reply) throw new IngotError(ErrorCode.launchTimeout, 'guest agent: lost sync and could not re-sync');
    this.#inbox = [];
    this.#desynced = false;
  }

  /** Runs argv in the guest and waits for it (polling guest-exec-status). */
  async exec(argv: readonly string[], opts: { timeoutMs?: number; signal?: AbortSignal; input?: string } = {}): Promise<GuestExecResult> {
    const [path, ...arg] = argv;
    if (!path) throw new Error('exec: empty argv');
    const request: Record<string, unknown> = { path, arg, 'capture-output': true };
    if (opts.input !== undefined) request['input-data'] = Buffer.from(opts.input).toString('base64');
    const { pid } = await this.command<{ pid: number }>('guest-exec', request);
    const deadline = Date.now() + (opts.timeoutMs ?? 600_000);
    let delay = 200;
    for (;;) {
      const status = await this.command<Record<string, unknown>>('guest-exec-status', { pid });
      if (status.exited) {
        return {
          exitCode: typeof status.exitcode === 'number' ? status.exitcode : typeof status.signal === 'number' ? 128 + status.signal : -1,
          stdout: decode(status['out-data']),
          stderr: decode(status['err-data']),
          timedOut: false,
        };
      }
      if (Date.now() > deadline) {
        // The agent cannot kill what it spawned; end it through the shell.
        await this.command('guest-exec', { path: '/bin/kill', arg: ['-KILL', String(pid)] }).catch(() => undefined);
        return { exitCode: -1, stdout: '', stderr: '', timedOut: true };
      }
      await sleep(delay, undefined, { signal: opts.signal });
      delay = Math.min(delay * 2, 2000);
    }
  }

  /** Reads a whole file from the guest. */
  async readFile(path: string): Promise<Buffer> {
    const handle = await this.command<number>('guest-file-open', { path, mode: 'r' });
    try {
      const chunks: Buffer[] = [];
      for (;;) {
        const r = await this.command<{ count: number; 'buf-b64': string; eof: boolean }>('guest-file-read', { handle, count: 1 << 20 });
        chunks.push(Buffer.from(r['buf-b64'], 'base64'));
        if (r.eof || r.count === 0) break;
      }
      return Buffer.concat(chunks);
    } finally {
      await this.command('guest-file-close', { handle }).catch(() => undefined);
    }
  }

  /** Writes a whole file in the guest (created or truncated). */
  async writeFile(path: string, data: Buffer): Promise<void> {
    const handle = await this.command<number>('guest-file-open', { path, mode: 'w' });
    try {
      for (let offset = 0; offset < data.length || offset === 0; offset += 1 << 20) {
        const chunk = data.subarray(offset, offset + (1 << 20));
        await this.command('guest-file-write', { handle, 'buf-b64': chunk.toString('base64') });
        if (data.length === 0) break;
      }
    } finally {
      await this.command('guest-file-close', { handle }).catch(() => undefined);
    }
  }

  /** Writes a file in the guest from a stream of chunks (created or truncated, 1 MiB per request). */
  async writeFileFrom(path: string, source: AsyncIterable<Buffer | Uint8Array>): Promise<number> {
    const handle = await this.command<number>('guest-file-open', { path, mode: 'w' });
    let bytes = 0;
    try {
      let pending = Buffer.alloc(0);
      for await (const chunk of source) {
        pending = pending.length ? Buffer.concat([pending, chunk]) : Buffer.from(chunk);
        while (pending.length >= 1 << 20) {
          await this.command('guest-file-write', { handle, 'buf-b64': pending.subarray(0, 1 << 20).toString('base64') });
          bytes += 1 << 20;
          pending = pending.subarray(1 << 20);
        }
      }
      if (pending.length) {
        await this.command('guest-file-write', { handle, 'buf-b64': pending.toString('base64') });
        bytes += pending.length;
      }
      return bytes;
    } finally {
      await this.command('guest-file-close', { handle }).catch(() => undefined);
    }
  }

  /**
   * Asks the guest to power off: `systemctl poweroff` (guest-shutdown runs
   * `shutdown -P +0`, which systemd hands to logind — absent without D-Bus
   * on minimal images), else guest-shutdown itself, which sends no reply on
   * success. Returns once the request is out; the caller waits for the VM.
   */
  async shutdown(): Promise<void> {
    try {
      await this.command('guest-exec', { path: 'systemctl', arg: ['poweroff'] });
      return;
    } catch {
      // No systemctl: the agent's own shutdown.
    }
    await this.#queue;
    this.#write({ execute: 'guest-shutdown', arguments: { mode: 'powerdown' } });
  }

  /** Closes the connection (the VM keeps running). */
  close(): void {
    this.#closed = true;
    this.#socket.destroy();
  }

  #write(message: Record<string, unknown>) {
    this.#socket.write(`${JSON.stringify(message)}\n`);
  }

  #onData(chunk: string) {
    this.#buffer += chunk.replaceAll('\xff', '');
    let newline: number;
    while ((newline = this.#buffer.indexOf('\n')) >= 0) {
      const line = this.#buffer.slice(0, newline).trim();
      this.#buffer = this.#buffer.slice(newline + 1);
      if (!line) continue;
      let message: Record<string, unknown>;
      try {
        message = JSON.parse(Buffer.from(line, 'latin1').toString('utf8')) as Record<string, unknown>;
      } catch {
        continue;
      }
      const waiter = this.#waiters.shift();
      if (waiter) waiter(message);
      else this.#inbox.push(message);
    }
  }

  // The next message matching `accept`, or undefined after `timeoutMs`.
  async #next(timeoutMs: number, accept: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown> | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const queued = this.#inbox.shift();
      if (queued) {
        if (accept(queued)) return queued;
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.#closed) return undefined;
      const message = await new Promise<Record<string, unknown> | undefined>((resolve) => {
        const waiter = (m: Record<string, unknown>) => {
          clearTimeout(timer);
          resolve(m);
        };
        const timer = setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          resolve(undefined);
        }, left);
        this.#waiters.push(waiter);
      });
      if (!message) return undefined;
      if (accept(message)) return message;
    }
  }
}

function openSocket(socketPath: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

function decode(value: unknown): string {
  return typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : '';
}
