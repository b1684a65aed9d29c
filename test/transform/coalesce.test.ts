// CoalesceStream: small chunks leave as batches, every byte once and in order; nothing waits for more
// input beyond the current turn of the event loop; a failure downstream still ends the pipeline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BATCH, CoalesceStream } from '../../src/transform/coalesce.js';

function collector(out: Buffer[], fail?: (chunk: Buffer) => Error | undefined) {
  return new Writable({
    write(chunk: Buffer, _e, cb) {
      out.push(chunk);
      cb(fail?.(chunk));
    },
  });
}

test('16 KiB records arriving together leave as batches of about BATCH bytes, unchanged and in order', async () => {
  const data = randomBytes(40 * 16384 + 123);
  const records: Buffer[] = [];
  for (let at = 0; at < data.length; at += 16384) records.push(data.subarray(at, at + 16384));
  const out: Buffer[] = [];
  await pipeline(Readable.from(records), new CoalesceStream(), collector(out));
  assert.ok(Buffer.concat(out).equals(data));
  assert.ok(out.length < records.length / 4, `${out.length} chunks for ${records.length} records`);
  for (const chunk of out) assert.ok(chunk.length < BATCH + 16384, `a batch of ${chunk.length} bytes`);
  assert.ok(
    out.slice(0, -1).every((c) => c.length >= BATCH),
    'every batch but the last is full',
  );

  // A chunk already larger than a batch passes as it is (no copy).
  const big = randomBytes(BATCH * 2);
  const bigOut: Buffer[] = [];
  await pipeline(Readable.from([big]), new CoalesceStream(), collector(bigOut));
  assert.equal(bigOut.length, 1);
  assert.equal(bigOut[0], big);
});

test('a chunk followed by a pause is passed on in the same turn, not held for more input', async () => {
  const source = new PassThrough();
  const stage = new CoalesceStream();
  const seen: Buffer[] = [];
  stage.on('data', (chunk: Buffer) => seen.push(chunk));
  source.pipe(stage);
  source.write(Buffer.from('first '));
  source.write(Buffer.from('record'));
  // The source now stays silent: the batch must still come out.
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(Buffer.concat(seen).toString(), 'first record');
  assert.equal(seen.length, 1, 'both writes of one turn in one chunk');
  source.end(Buffer.from('!'));
  await new Promise((resolve) => stage.on('end', resolve));
  assert.equal(Buffer.concat(seen).toString(), 'first record!');
});

test('a failing consumer fails the pipeline; a destroyed stage drops its pending batch', async () => {
  const chunks = Array.from({ length: 64 }, () => randomBytes(16384));
  await assert.rejects(
    pipeline(
      Readable.from(chunks),
      new CoalesceStream(),
      collector([], () => new Error('disk full')),
    ),
    /disk full/,
  );
  const stage = new CoalesceStream();
  const seen: Buffer[] = [];
  stage.on('data', (c: Buffer) => seen.push(c));
  stage.on('error', () => undefined);
  stage.write(Buffer.from('pending'));
  stage.destroy(new Error('cancelled'));
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(seen, []);
});
