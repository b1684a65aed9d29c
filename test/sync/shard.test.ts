// --shard I/N: deterministic, complete and disjoint, stable when others change.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IngotError } from '../../src/errors.js';
import { parseShard, selectShard, shardOf } from '../../src/sync/shard.js';

const images = Array.from({ length: 200 }, (_, i) => ({ name: `image-${i}` }));

test('parseShard reads I/N (1-based) and explains bad input', () => {
  assert.deepEqual(parseShard('1/4'), { index: 1, count: 4 });
  assert.deepEqual(parseShard(' 3 / 3 '), { index: 3, count: 3 });
  for (const [text, pattern] of [
    ['0/4', /expected I between 1 and 4, got 0/],
    ['5/4', /expected I between 1 and 4, got 5/],
    ['1/0', /expected N between 1/],
    ['1-4', /expected I\/N/],
    ['a/b', /expected I\/N/],
    ['', /expected I\/N/],
  ] as const) {
    assert.throws(
      () => parseShard(text),
      (e: unknown) => e instanceof IngotError && e.exitCode === 2 && pattern.test(e.message),
      text,
    );
  }
});

test('shards are disjoint, cover everything, keep order, and are roughly even', () => {
  const count = 4;
  const shards = Array.from({ length: count }, (_, i) => selectShard(images, i + 1, count));
  const all = shards
    .flat()
    .map((x) => x.name)
    .sort();
  assert.deepEqual(all, images.map((x) => x.name).sort());
  assert.equal(new Set(all).size, images.length);
  for (const shard of shards) {
    assert.ok(shard.length > 25 && shard.length < 75, `uneven: ${shard.length}`);
    const order = shard.map((x) => images.indexOf(x));
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
    );
  }
});

test('an image stays in its shard when other images are added or removed', () => {
  const before = new Map(images.map((x) => [x.name, shardOf(x.name, 5)]));
  const changed = [...images.slice(50), { name: 'new-one' }, { name: 'another' }];
  for (let i = 1; i <= 5; i++) {
    for (const x of selectShard(changed, i, 5)) if (before.has(x.name)) assert.equal(before.get(x.name), i);
  }
  assert.deepEqual(selectShard(images, 1, 1), images);
});
