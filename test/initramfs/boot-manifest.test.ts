import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IngotError } from '../../src/errors.js';
import { bootManifestBytes, buildBootManifest, initramfsFactsFromMetadata, type BootManifestInput } from '../../src/initramfs/boot-manifest.js';
import type { ImageMetadata } from '../../src/store/metadata.js';

const hex = (c: string) => c.repeat(64);
const input: BootManifestInput = {
  name: 'plfm-default',
  kernel: { version: '6.1.50', buildId: '20251217a', sha256: `sha256:${hex('A')}`, configSha256: hex('b') },
  initramfs: { guestInitVersion: '1.0.0', guestInitProtocol: 1, buildId: '20251217a', sha256: hex('c'), sizeBytes: 15_000_000 },
  compatibility: { minAgentVersion: '1.0.0', supportedProtocols: [2, 1, 1] },
};

describe('boot manifest', () => {
  it('has the fields of the guest-init delivery spec, digests as bare lower-case hex', () => {
    assert.deepEqual(buildBootManifest(input), {
      schema_version: 1,
      name: 'plfm-default',
      kernel: { version: '6.1.50', build_id: '20251217a', sha256: hex('a'), config_sha256: hex('b') },
      initramfs: { guest_init_version: '1.0.0', guest_init_protocol: 1, build_id: '20251217a', sha256: hex('c'), size_bytes: 15_000_000 },
      compatibility: { min_agent_version: '1.0.0', supported_protocols: [1, 2] },
    });
  });

  it('serialises to the same bytes every time, in the declared key order', () => {
    const bytes = bootManifestBytes(buildBootManifest(input)).toString();
    assert.equal(bytes, bootManifestBytes(buildBootManifest(structuredClone(input))).toString());
    assert.ok(bytes.endsWith('}\n'));
    assert.deepEqual(Object.keys(JSON.parse(bytes)), ['schema_version', 'name', 'kernel', 'initramfs', 'compatibility']);
  });

  it('lists every problem at once, including an incompatible protocol', () => {
    const bad: BootManifestInput = {
      kernel: { ...input.kernel, version: '', sha256: 'sha256:xyz' },
      initramfs: { ...input.initramfs, guestInitProtocol: 3, sizeBytes: 0 },
      compatibility: { minAgentVersion: '1.0.0', supportedProtocols: [1, 2] },
    };
    assert.throws(
      () => buildBootManifest(bad),
      (error: unknown) => {
        assert.ok(error instanceof IngotError);
        assert.equal(error.code, 'INGOT_BOOT_MANIFEST_INVALID');
        assert.deepEqual(error.details?.problems, [
          'kernel.version must be a non-empty string',
          'kernel.sha256 must be a sha256 digest (64 hex digits, optionally "sha256:"-prefixed), got "sha256:xyz"',
          'initramfs.sizeBytes must be a positive integer, got 0',
          'the initramfs speaks guest-init protocol 3, which compatibility.supportedProtocols (1, 2) does not list',
        ]);
        return true;
      },
    );
  });

  it('takes initramfs facts from stored metadata', () => {
    const meta = { sha256: `sha256:${hex('d')}`, size: 1234, source: { type: 'initramfs', version: '1.2.0', buildId: 'b7' } } as unknown as ImageMetadata;
    assert.deepEqual(initramfsFactsFromMetadata(meta, 1), {
      guestInitVersion: '1.2.0',
      guestInitProtocol: 1,
      buildId: 'b7',
      sha256: `sha256:${hex('d')}`,
      sizeBytes: 1234,
    });
  });
});
