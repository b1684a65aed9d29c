/**
 * The run lock on an S3 store: one object, `<prefix>.ingot-lock`, created
 * with `PutObject If-None-Match: *` so exactly one writer wins (RGW, AWS and
 * MinIO honour it on PutObject). It holds owner, host, start and expiry as
 * JSON plus a random token; `release()` deletes it only while it still holds
 * our token.
 *
 * A store that ignores the condition would let every run "win", so before
 * the first attempt we write a probe object twice with the condition and
 * require the second write to fail; if it does not, we refuse and name the
 * store, and only `--no-lock` goes on.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { ErrorCode, IngotError } from '../errors.js';
import type { LockOptions, StoreLock } from './backend.js';
import { breakable, holderIsDead, lockedError, parseLockHolder, type LockHolder } from './fs-backend.js';
import { isNotFound, s3Name, s3Status } from './s3-errors.js';
import type { S3Location } from './s3-url.js';

/** The lock object's name under the store prefix. */
export const LOCK_KEY = '.ingot-lock';

/** The three object operations the lock needs (keys are full object keys). */
export interface LockIo {
  /** PutObject with If-None-Match: *; false when the object exists. */
  putIfAbsent(key: string, body: string, signal?: AbortSignal): Promise<boolean>;
  getText(key: string, signal?: AbortSignal): Promise<string | undefined>;
  remove(key: string, signal?: AbortSignal): Promise<void>;
  /** Plain PutObject (for refreshing our own lock). */
  replace(key: string, body: string): Promise<void>;
}

/** The most of a lock object ingot reads. */
const MAX_LOCK_BYTES = 64 * 1024;

// After breaking an expired lock, wait this long and re-read it: a second
// breaker that read the same expired lock may have deleted ours meanwhile.
const BREAK_SETTLE_MS = 1000;

/** Checks once that the store refuses a second If-None-Match write. */
export async function probeConditionalWrites(io: LockIo, prefix: string, store: string, signal?: AbortSignal): Promise<void> {
  const probe = `${prefix}.ingot-lock-probe-${randomUUID()}`;
  try {
    const first = await io.putIfAbsent(probe, 'probe', signal);
    const second = await io.putIfAbsent(probe, 'probe', signal);
    if (first && second) {
      throw new IngotError(ErrorCode.storeLockUnsupported, `store ignores conditional writes (If-None-Match), so it cannot be locked: ${store}`, {
        hint: 'make sure no other run uses this store at the same time and re-run with --no-lock',
      });
    }
  } finally {
    await io.remove(probe).catch(() => undefined);
  }
}

/** Takes the lock, waiting up to `timeoutMs`; breaks an expired one only with `breakExpired`. */
export async function acquireS3Lock(io: LockIo, prefix: string, store: string, options: LockOptions): Promise<StoreLock> {
  const key = `${prefix}${LOCK_KEY}`;
  const deadline = Date.now() + options.timeoutMs;
  let broke = false;
  for (;;) {
    const token = randomUUID();
    const now = Date.now();
    const body = JSON.stringify({
      owner: options.owner,
      host: hostname(),
      pid: process.pid,
      token,
      startedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + options.ttlMs).toISOString(),
    });
    let created = await io.putIfAbsent(key, body, options.signal);
    const holder = created ? undefined : parseHolder(await io.getText(key, options.signal));
    // Our own write whose answer was lost, then retried by the SDK into a 412: it is ours.
    if (holder?.token === token) created = true;
    if (created) {
      if (broke) {
        broke = false;
        await sleep(BREAK_SETTLE_MS, undefined, { signal: options.signal });
        const again = parseHolder(await io.getText(key, options.signal));
        if (again?.token !== token) continue; // another breaker took it over
      }
      const heartbeat = startHeartbeat(io, key, token, body, options.ttlMs);
      return {
        release: async () => {
          heartbeat.stop();
          await heartbeat.idle();
          const current = parseHolder(await io.getText(key));
          if (current?.token === token) await io.remove(key);
        },
      };
    }
    if (holder === undefined) continue; // released between our write and read
    // An S3 PUT is atomic, so an unreadable lock object is never half-written: it is garbage,
    // or not ingot's, and can never expire; --break-lock takes it over.
    if ((options.breakExpired && breakable(holder)) || holderIsDead(holder)) {
      await io.remove(key, options.signal);
      broke = true;
      continue;
    }
    if (Date.now() >= deadline) {
      const { token: _token, ...shown } = holder;
      throw lockedError(store, shown);
    }
    await sleep(Math.min(1000, Math.max(100, deadline - Date.now())), undefined, { signal: options.signal });
  }
}

/**
 * Keeps a held lock from expiring: every third of its lifetime, if the lock
 * still holds our token, rewrite it with a new expiry. Only a dead run's lock
 * expires, so only that one can be broken with --break-lock.
 */
function startHeartbeat(io: LockIo, key: string, token: string, body: string, ttlMs: number) {
  const data = JSON.parse(body) as Record<string, unknown>;
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(
    () => {
      running = (async () => {
        const current = parseHolder(await io.getText(key));
        if (current?.token !== token) return;
        await io.replace(key, JSON.stringify({ ...data, expiresAt: new Date(Date.now() + ttlMs).toISOString() }));
      })().catch(() => undefined); // a missed beat is retried at the next one
    },
    Math.max(1000, Math.floor(ttlMs / 3)),
  );
  timer.unref();
  return { stop: () => clearInterval(timer), idle: () => running };
}

function parseHolder(text: string | undefined): (LockHolder & { token?: string }) | undefined {
  return text === undefined ? undefined : parseLockHolder(text);
}

/** The LockIo of a bucket: full object keys, errors mapped by `toError` (store-relative keys). */
export function s3LockIo(
  sdk: typeof import('@aws-sdk/client-s3'),
  client: S3Client,
  location: S3Location,
  store: string,
  toError: (error: unknown, op: string, key: string) => Promise<IngotError>,
): LockIo {
  const { bucket, prefix } = location;
  const rel = (key: string) => key.slice(prefix.length);
  return {
    putIfAbsent: async (key, body, signal) => {
      try {
        await client.send(new sdk.PutObjectCommand({ Bucket: bucket, Key: key, Body: body, IfNoneMatch: '*' }), { abortSignal: signal });
        return true;
      } catch (error) {
        // 412: it exists. 409: a concurrent conditional write is in progress (AWS): taken.
        const status = s3Status(error);
        if (status === 412 || status === 409) return false;
        if (status === 501 || s3Name(error) === 'NotImplemented') {
          throw new IngotError(ErrorCode.storeLockUnsupported, `store does not support conditional writes (If-None-Match), so it cannot be locked: ${store}`, {
            hint: 'make sure no other run uses this store at the same time and re-run with --no-lock',
            cause: error,
          });
        }
        throw await toError(error, 'lock', rel(key));
      }
    },
    getText: async (key, signal) => {
      try {
        const out = await client.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
        // A lock is a few hundred bytes: anything huge is garbage (unreadable), never read whole.
        if ((out.ContentLength ?? 0) > MAX_LOCK_BYTES) {
          (out.Body as { destroy?: () => void } | undefined)?.destroy?.();
          return '';
        }
        return await out.Body!.transformToString();
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw await toError(error, 'read', rel(key));
      }
    },
    replace: async (key, body) => {
      try {
        await client.send(new sdk.PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
      } catch (error) {
        throw await toError(error, 'refresh', rel(key));
      }
    },
    remove: async (key, signal) => {
      try {
        await client.send(new sdk.DeleteObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
      } catch (error) {
        if (!isNotFound(error)) throw await toError(error, 'delete', rel(key));
      }
    },
  };
}
