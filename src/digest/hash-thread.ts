/**
 * A second thread for verifying files. A pass that needs two digests of the
 * same bytes — BLAKE2b-512 for a prehashed signature and sha256 for the
 * digest check (`verifyFile`) — is bound by one core in one thread. Here the
 * helper thread reads the file and computes one hash, handing each chunk to
 * the calling thread for the other as soon as it is read: the caller's core
 * does nothing but its hash, the second core reads and does the other.
 *
 * Chunks travel as views of a ring of SharedArrayBuffers, so nothing is
 * copied. The thread waits (Atomics) until the caller has given a buffer back
 * before it reads into it again. One thread serves the whole process. It is
 * started by the first caller that asks for it ({@link hashThread}) and is
 * handed out only once it runs, so a caller never waits for it to start
 * (≈ 20–50 ms here): the first large file is read and hashed in the calling
 * thread while the helper starts beside it. The thread keeps the process
 * alive only while it owes an answer; if it cannot start or dies, callers get
 * no thread and hash in their own.
 *
 * Measured (bench:verify, 2 cores, 20 MiB): reading in libuv's pool with
 * sha256 posted to this thread chunk by chunk took 27 ms (three threads on
 * two cores); reading here takes 21–22 ms, the BLAKE2b floor. sync's stream
 * hashes were tried here too and gained nothing — TLS, the decompressor and
 * the hashes already keep both cores busy there — so only file verification
 * uses it.
 */
import { Worker } from 'node:worker_threads';
import { FILE_CHUNK } from './hashing.js';

/** Chunks in a ring: the thread reads up to three ahead of the caller. */
const RING_SIZE = 4;
/** Index in a ring's control array that tells the thread to stop (the caller failed). */
const CANCEL = RING_SIZE;

/**
 * The thread's code (CommonJS, evaluated). A message reads the file `fd`
 * from its start into the ring: control[i] is 1 while the caller holds
 * buffer i, and the thread waits for 0 before reading into it again. Every
 * chunk is announced, then hashed here; the last answer carries the digest.
 */
const SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { readSync } = require('node:fs');
const RING_SIZE = ${RING_SIZE};
const CANCEL = ${CANCEL};
function read(m) {
  const control = new Int32Array(m.control);
  const views = m.buffers.map((b) => new Uint8Array(b));
  const hash = createHash(m.algorithm);
  let size = 0;
  for (let i = 0; ; i = (i + 1) % RING_SIZE) {
    while (Atomics.load(control, i) !== 0 && Atomics.load(control, CANCEL) === 0) Atomics.wait(control, i, 1);
    if (Atomics.load(control, CANCEL) !== 0) throw new Error('cancelled by the caller');
    const got = readSync(m.read, views[i], 0, views[i].length, size);
    if (got === 0) return { hex: hash.digest('hex'), size };
    Atomics.store(control, i, 1);
    parentPort.postMessage({ reply: m.reply, chunk: i, length: got });
    hash.update(views[i].subarray(0, got));
    size += got;
  }
}
parentPort.on('message', (m) => {
  try {
    parentPort.postMessage({ reply: m.reply, ...read(m) });
  } catch (error) {
    parentPort.postMessage({ reply: m.reply, error: String((error && error.message) || error), code: error && error.code });
  }
});`;

interface Answer {
  reply: number;
  chunk?: number;
  length?: number;
  hex?: string;
  size?: number;
  error?: string;
  code?: string;
}

interface Waiter {
  resolve(answer: Answer): void;
  reject(error: Error): void;
  /** Called for each chunk announced before the answer. */
  onChunk(index: number, length: number): void;
}

/** Shared buffers and their control array; reused by later reads once a read has ended cleanly. */
interface Ring {
  buffers: SharedArrayBuffer[];
  views: Uint8Array[];
  control: Int32Array;
}

/** Rings kept for the next reads: touching fresh memory costs a page fault per page on this class of VM. */
const spareRings: Ring[] = [];
const SPARE_RINGS = 1;

function takeRing(): Ring {
  const ring = spareRings.pop();
  if (ring) {
    ring.control.fill(0);
    return ring;
  }
  const buffers = Array.from({ length: RING_SIZE }, () => new SharedArrayBuffer(FILE_CHUNK));
  return { buffers, views: buffers.map((b) => new Uint8Array(b)), control: new Int32Array(new SharedArrayBuffer(4 * (RING_SIZE + 1))) };
}

/** A file's size and digest, as the thread computed them. */
export interface ThreadRead {
  hex: string;
  size: number;
}

class HelperThread {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, Waiter>();
  #replies = 0;
  online = false;
  dead = false;

  constructor() {
    // No loader flags (tsx, coverage hooks come through the environment): the thread runs plain CommonJS.
    this.#worker = new Worker(SOURCE, { eval: true, execArgv: [], stdout: false, stderr: false });
    this.#worker.on('online', () => {
      this.online = true;
    });
    this.#worker.on('message', (m: Answer) => {
      const waiter = this.#waiting.get(m.reply);
      if (!waiter) return;
      if (m.chunk !== undefined) {
        waiter.onChunk(m.chunk, m.length ?? 0);
        return;
      }
      this.#settled(m.reply);
      if (m.error) waiter.reject(Object.assign(new Error(`hashing thread: ${m.error}`), m.code ? { code: m.code } : {}));
      else waiter.resolve(m);
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

  #settled(reply: number): void {
    this.#waiting.delete(reply);
    if (this.#waiting.size === 0) this.#worker.unref();
  }

  /**
   * Reads the open file `fd` from its first byte to its end in this thread,
   * hashing it with `algorithm`, and hands each chunk to `onChunk` (in this
   * thread, in order) as soon as it is read. `onChunk` must not keep the
   * chunk: its memory is read into again once `onChunk` returns. If
   * `onChunk` throws, the read stops and the promise rejects with that
   * error. The caller keeps `fd` open until the promise settles.
   */
  readFile(fd: number, algorithm: string, onChunk: (chunk: Uint8Array) => void): Promise<ThreadRead> {
    if (this.dead) return Promise.reject(new Error('hashing thread stopped'));
    const ring = takeRing();
    const reply = ++this.#replies;
    let failure: unknown;
    const giveBack = (index: number) => {
      Atomics.store(ring.control, index, 0);
      Atomics.notify(ring.control, index);
    };
    const answer = new Promise<Answer>((resolve, reject) => {
      this.#waiting.set(reply, {
        resolve,
        reject,
        onChunk: (index, length) => {
          if (failure !== undefined) return;
          try {
            onChunk(ring.views[index]!.subarray(0, length));
          } catch (error) {
            failure = error;
            Atomics.store(ring.control, CANCEL, 1);
            for (let i = 0; i < RING_SIZE; i++) giveBack(i);
            return;
          }
          giveBack(index);
        },
      });
    });
    // Keep the process alive while the thread owes an answer, and no longer.
    if (this.#waiting.size === 1) this.#worker.ref();
    this.#worker.postMessage({ reply, read: fd, algorithm, buffers: ring.buffers, control: ring.control.buffer });
    return answer.then(
      ({ hex, size }) => {
        if (spareRings.length < SPARE_RINGS) spareRings.push(ring);
        // The caller may have failed on the last chunk, after which the thread found the end.
        if (failure !== undefined) throw failure;
        return { hex: hex!, size: size! };
      },
      (error: Error) => {
        // The thread has answered (or died): it no longer touches the ring.
        if (!this.dead && spareRings.length < SPARE_RINGS) spareRings.push(ring);
        throw failure ?? error;
      },
    );
  }

  terminate(): Promise<number> {
    this.dead = true;
    return this.#worker.terminate();
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

export type { HelperThread };
