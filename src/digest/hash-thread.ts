/**
 * A second thread for hashing. A pass that needs two digests of the same
 * bytes — BLAKE2b-512 for a prehashed signature and sha256 for the digest
 * check (`verifyFile`) — is bound by one core in one thread; handing one hash
 * to this thread puts the second core to work.
 *
 * Chunks travel as views of SharedArrayBuffers, so nothing is copied: the
 * caller reads a chunk into shared memory, {@link ThreadHash.update} posts
 * where it lies, and the returned promise settles when the thread has hashed
 * it and the memory may be written again. One thread serves the whole
 * process. It is started by the first caller that asks for it
 * ({@link hashThread}) and is handed out only once it runs, so a caller
 * never waits for it to start (≈ 20–50 ms here): the first large file is
 * hashed in the calling thread while the helper starts beside it. The thread
 * keeps the process alive only while it owes an answer; if it cannot start
 * or dies, callers get no thread and hash in their own.
 *
 * Measured (bench:sync, 2 cores): sync's stream hashes were tried here too
 * and gained nothing — TLS, the decompressor and the hashes already keep both
 * cores busy there, and the copies into shared memory cost RSS — so only
 * file verification uses it.
 */
import { Worker } from 'node:worker_threads';

/** The thread's code (CommonJS, evaluated): hash what is posted, answer each message in order. */
const SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const jobs = new Map();
function handle(m) {
  try {
    let hash = jobs.get(m.job);
    if (!hash) jobs.set(m.job, (hash = createHash(m.algorithm)));
    if (m.buffer) hash.update(new Uint8Array(m.buffer, m.offset, m.length));
    if (m.final) {
      jobs.delete(m.job);
      parentPort.postMessage({ reply: m.reply, hex: hash.digest('hex') });
    } else parentPort.postMessage({ reply: m.reply });
  } catch (error) {
    jobs.delete(m.job);
    parentPort.postMessage({ reply: m.reply, error: String((error && error.message) || error) });
  }
}
parentPort.on('message', handle);`;

interface Waiter {
  resolve(hex: string | undefined): void;
  reject(error: Error): void;
}

class HelperThread {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, Waiter>();
  #replies = 0;
  #jobs = 0;
  online = false;
  dead = false;

  constructor() {
    // No loader flags (tsx, coverage hooks come through the environment): the thread runs plain CommonJS.
    this.#worker = new Worker(SOURCE, { eval: true, execArgv: [], stdout: false, stderr: false });
    this.#worker.on('online', () => {
      this.online = true;
    });
    this.#worker.on('message', (m: { reply: number; hex?: string; error?: string }) => {
      const waiter = this.#waiting.get(m.reply);
      if (!waiter) return;
      this.#settled(m.reply);
      if (m.error) waiter.reject(new Error(`hashing thread: ${m.error}`));
      else waiter.resolve(m.hex);
    });
    const fail = (error: Error) => {
      this.dead = true;
      for (const [reply, waiter] of this.#waiting) {
        this.#settled(reply);
        waiter.reject(error);
      }
    };
    this.#worker.on('error', fail);
    this.#worker.on('exit', (code) => fail(new Error(`hashing thread stopped (exit code ${code})`)));
    // After the listeners: adding a 'message' listener refs the worker again.
    this.#worker.unref();
  }

  /** Posts one message; the promise settles with the thread's answer to it. */
  send(message: Record<string, unknown>): Promise<string | undefined> {
    if (this.dead) return Promise.reject(new Error('hashing thread stopped'));
    const reply = ++this.#replies;
    // Keep the process alive while the thread owes an answer, and no longer.
    if (this.#waiting.size === 0) this.#worker.ref();
    const answer = new Promise<string | undefined>((resolve, reject) => this.#waiting.set(reply, { resolve, reject }));
    this.#worker.postMessage({ ...message, reply });
    return answer;
  }

  #settled(reply: number): void {
    this.#waiting.delete(reply);
    if (this.#waiting.size === 0) this.#worker.unref();
  }

  job(algorithm: string): ThreadHash {
    return new ThreadHash(this, ++this.#jobs, algorithm);
  }

  terminate(): Promise<number> {
    this.dead = true;
    return this.#worker.terminate();
  }
}

/** One hash computed in the helper thread. */
export class ThreadHash {
  /**
   * The first failed update. The thread forgets a job whose update failed, so
   * a later update would start a new hash of only the bytes after it: once
   * one failed, the digest is never given.
   */
  #failure: Error | undefined;

  constructor(
    private readonly thread: HelperThread,
    private readonly id: number,
    private readonly algorithm: string,
  ) {}

  /**
   * Hashes `chunk`, which must be a view of a SharedArrayBuffer. Resolves when
   * the thread is done with it; until then the caller must not write to it.
   */
  update(chunk: Uint8Array): Promise<void> {
    if (!(chunk.buffer instanceof SharedArrayBuffer)) throw new TypeError('ThreadHash.update needs a view of a SharedArrayBuffer');
    if (this.#failure) return Promise.reject(this.#failure);
    const done = this.thread.send({ job: this.id, algorithm: this.algorithm, buffer: chunk.buffer, offset: chunk.byteOffset, length: chunk.byteLength });
    return done.then(
      () => undefined,
      (error: Error) => {
        this.#failure ??= error;
        throw error;
      },
    );
  }

  /** Ends the job without a digest (the pass failed). */
  discard(): void {
    this.thread.send({ job: this.id, algorithm: this.algorithm, final: true }).catch(() => undefined);
  }

  /** The digest (hex) of everything updated so far; the job ends with it. Rejects if any update failed. */
  async digest(): Promise<string> {
    const hex = await this.thread.send({ job: this.id, algorithm: this.algorithm, final: true });
    // Answers come in order: by now every update has settled, and a failure is recorded.
    if (this.#failure) throw this.#failure;
    return hex!;
  }
}

let shared: HelperThread | undefined;
let unavailable = false;

/**
 * The helper thread if it is running, else undefined — after asking it to
 * start, so that a later call finds it. Hash in your own thread when this
 * returns undefined. INGOT_HASH_THREAD=0 turns the thread off.
 */
export function hashThread(env: NodeJS.ProcessEnv = process.env): HelperThread | undefined {
  if (env.INGOT_HASH_THREAD === '0' || unavailable) return undefined;
  if (!shared) {
    try {
      shared = new HelperThread();
    } catch {
      // Threads unavailable (resource limits): hash in the caller's thread from now on.
      unavailable = true;
    }
    return undefined;
  }
  // A thread that died stays dead: its callers fell back, and so do later ones.
  return shared.online && !shared.dead ? shared : undefined;
}

/** Waits until the helper thread runs (tests and benchmarks: measure the steady state, or the fallback). */
export async function hashThreadReady(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  for (let i = 0; i < 500; i++) {
    const thread = hashThread(env);
    if (thread) return true;
    if (env.INGOT_HASH_THREAD === '0') return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return false;
}

/** Stops the helper thread (tests); the next {@link hashThread} starts a new one. */
export async function stopHashThread(): Promise<void> {
  const thread = shared;
  shared = undefined;
  await thread?.terminate();
}

/** Memory for chunks that the helper thread may read. */
export function sharedBuffer(size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size));
}

export type { HelperThread };
