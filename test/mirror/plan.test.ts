// The mirror plan (pure): what is identical, what is copied and why, what --delete would remove.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Digest } from '../../src/digest/digest.js';
import type { DestInventory, ImageDoc, SourceInventory } from '../../src/mirror/inventory.js';
import { imageProblem } from '../../src/mirror/inventory.js';
import { planMirror } from '../../src/mirror/plan.js';
import type { ImageMetadata } from '../../src/store/metadata.js';

const meta = (p: string, size = 10, key = `images/${p}`): ImageMetadata =>
  ({
    schemaVersion: 1,
    name: p,
    path: p,
    key,
    checksum: `sha256:${'a'.repeat(64)}`,
    sha256: `sha256:${'a'.repeat(64)}`,
    size,
    uploadedAt: '',
    source: { type: 'file' },
  }) as ImageMetadata;
const doc = (m: ImageMetadata): ImageDoc => ({
  metadataKey: `metadata/${m.path}.json`,
  bytes: Buffer.from(JSON.stringify(m)),
  metadata: m,
  digest: 'sha256:x' as Digest,
});
const dest = (objects: Record<string, number>, metadata: Record<string, Buffer> = {}, documents: Record<string, Buffer> = {}): DestInventory => ({
  objects: new Map(Object.entries(objects).map(([key, size]) => [key, { key, size }])),
  metadata: new Map(Object.entries(metadata)),
  documents: new Map(Object.entries(documents)),
});

describe('mirror plan', () => {
  const a = doc(meta('a.raw'));
  const b = doc(meta('b.raw', 20));
  const source: SourceInventory = {
    images: [a, b],
    invalid: [{ key: 'metadata/bad.json', problem: 'not JSON' }],
    documents: [
      { key: 'channels/x.json', bytes: Buffer.from('{}'), signature: Buffer.from('sig') },
      { key: 'boot/lab.json', bytes: Buffer.from('{"b":1}') },
    ],
    index: { key: 'index.json', bytes: Buffer.from('{"i":1}'), signature: Buffer.from('isig') },
  };

  it('skips only identical metadata with bytes of the recorded size', () => {
    const plan = planMirror(
      source,
      dest(
        { 'images/a.raw': 10, 'metadata/a.raw.json': 1, 'images/b.raw': 19, 'metadata/b.raw.json': 1 },
        { 'metadata/a.raw.json': a.bytes, 'metadata/b.raw.json': b.bytes },
      ),
    );
    assert.deepEqual(
      plan.images.map((s) => [s.doc.metadata.path, s.action, s.reason]),
      [
        ['a.raw', 'skip', 'present and identical'],
        ['b.raw', 'copy', 'image is 19 bytes in the destination, 20 at the source'],
      ],
    );
    const changed = planMirror(source, dest({ 'images/a.raw': 10 }, { 'metadata/a.raw.json': Buffer.from('{}') }));
    assert.equal(changed.images[0]!.reason, 'metadata differs (re-published at the source)');
    assert.equal(planMirror(source, dest({}, { 'metadata/a.raw.json': a.bytes })).images[0]!.reason, 'image bytes missing in the destination');
  });

  it('compares documents with their signatures, and drops a signature the source no longer has', () => {
    const plan = planMirror(
      source,
      dest(
        { 'channels/x.json': 2, 'channels/x.json.minisig': 3, 'boot/lab.json': 7, 'boot/lab.json.minisig': 3, 'index.json': 7, 'index.json.minisig': 4 },
        {},
        {
          'channels/x.json': Buffer.from('{}'),
          'channels/x.json.minisig': Buffer.from('old'),
          'boot/lab.json': Buffer.from('{"b":1}'),
          'boot/lab.json.minisig': Buffer.from('sig'),
          'index.json': Buffer.from('{"i":1}'),
          'index.json.minisig': Buffer.from('isig'),
        },
      ),
    );
    assert.deepEqual(
      plan.documents.map((d) => [d.doc.key, d.action, d.dropSignature]),
      [
        ['channels/x.json', 'copy', false],
        ['boot/lab.json', 'copy', true],
      ],
    );
    assert.equal(plan.index?.action, 'skip');
  });

  it('lists extras in the managed places only, metadata first, never the copy of a source document that failed', () => {
    const plan = planMirror(
      source,
      dest(
        {
          'images/a.raw': 10,
          'images/old.raw': 1,
          'metadata/old.raw.json': 1,
          'metadata/bad.json': 1,
          'isos/x.iso': 1,
          'metadata/x.iso.json': 1,
          'channels/gone.json': 1,
          'index.html': 1,
          README: 1,
        },
        { 'metadata/x.iso.json': Buffer.from(JSON.stringify(meta('x.iso', 1, 'isos/x.iso'))) },
      ),
    );
    assert.deepEqual(plan.extras, ['metadata/old.raw.json', 'metadata/x.iso.json', 'channels/gone.json', 'images/old.raw', 'isos/x.iso']);
  });

  it('refuses metadata that is not where it says, or whose bytes would land on a document', () => {
    assert.equal(imageProblem('metadata/a.raw.json', meta('a.raw')), undefined);
    assert.match(imageProblem('metadata/b.raw.json', meta('a.raw'))!, /not its own location/);
    assert.match(imageProblem('metadata/a.raw.json', meta('a.raw', 1, 'index.json'))!, /reserved/);
    assert.match(imageProblem('metadata/a.raw.json', meta('a.raw', 1, 'channels/talos.json'))!, /reserved/);
    assert.match(imageProblem('metadata/a.raw.json', meta('a.raw', 1, '../etc/passwd'))!, /\.\./);
  });
});
