// The shipped CI example and .sops.yaml: well-formed and carrying what the docs promise.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { parse } from 'yaml';

const read = async (p: string) => parse(await readFile(new URL(`../../examples/${p}`, import.meta.url), 'utf8')) as Record<string, any>;

test('the GitHub Actions example: manifest pushes, manual force/prune, a concurrency group, a shard matrix', async () => {
  const wf = await read('.github/workflows/images.yml');
  assert.ok(wf.on.push.paths.includes('images.yaml'));
  assert.deepEqual(Object.keys(wf.on.workflow_dispatch.inputs).sort(), ['force', 'prune']);
  assert.match(wf.concurrency.group, /\S/);
  const shards: string[] = wf.jobs.sync.strategy.matrix.shard;
  assert.deepEqual(shards, shards.map((_, i) => `${i + 1}/${shards.length}`));
  const syncRun = wf.jobs.sync.steps.map((s: { run?: string }) => s.run ?? '').join('\n');
  assert.match(syncRun, /--shard \$\{\{ matrix\.shard \}\}/);
  assert.match(syncRun, /--credentials/);
  assert.doesNotMatch(JSON.stringify(wf.jobs.prune), /--shard/, 'prune refuses --shard');
  assert.match(wf.jobs.prune.if, /inputs\.prune/);
});

test('the .sops.yaml example names age recipients for the credentials file', async () => {
  const sops = await read('.sops.yaml');
  const rule = sops.creation_rules[0];
  assert.ok(new RegExp(rule.path_regex).test('credentials.sops.yaml'));
  for (const r of String(rule.age).split(',')) assert.match(r.trim(), /^age1[0-9a-z]{58}$/);
});
