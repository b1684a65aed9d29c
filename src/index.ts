/**
 * ingot's library API: the same functions the CLI uses. Core modules never
 * read argv or print; pass a Logger (or `silentLogger`) and an AbortSignal.
 */
export { IngotError, ErrorCode, ExitCode, UsageError } from './errors.js';
export { loadManifest, checkManifest, type LoadResult } from './manifest/load.js';
export { manifestJsonSchema } from './manifest/schema.js';
export type { Manifest, Image, BootSet } from './manifest/types.js';
export type { Problem } from './manifest/problems.js';
export { renderProblem } from './manifest/problems.js';
export { parseDigest, digestProblem, type Digest, type Algorithm } from './digest/digest.js';
export { HashingStream, hashStream } from './digest/hashing.js';
export { download, head, type HttpOptions } from './acquire/http-client.js';
export { sourceDrivers, driverFor } from './acquire/registry.js';
export type { SourceDriver, SourceStream, AcquireContext } from './acquire/source.js';
export { decompressor, CapStream, parseSize, formatBytes } from './transform/decompress.js';
export type { StoreBackend, Upload, BlobInfo, StoreLock, LockOptions } from './store/backend.js';
export { ImageStore } from './store/image-store.js';
export { openBackend, defaultStoreUrl, backendFactories } from './store/open.js';
export { FsBackend } from './store/fs-backend.js';
export type { ImageMetadata } from './store/metadata.js';
export { runSync, type SyncOptions, type SyncResult, type ImageOutcome } from './sync/sync.js';
export { planImage } from './sync/plan.js';
export { publishImage } from './sync/publish.js';
export { prunePlan } from './sync/prune.js';
export { parseShard, selectShard } from './sync/shard.js';
export { publishBootSets } from './sync/boot-sets.js';
export { resolveS3Credentials } from './credentials/chain.js';
export { createLogger, silentLogger, type Logger } from './log/logger.js';
export { noProgress, type ProgressReporter, type TransferProgress } from './log/progress.js';
export { run, type RunOptions, type RunResult } from './exec/run.js';
export { signBytes, signFile, verifyBytes, verifyFile } from './trust/signature.js';
export { loadSigningKey, readPublicKey } from './trust/key-files.js';
export { signStoreIndex } from './trust/sign-store.js';
export { buildIndex, parseIndex } from './trust/catalogue.js';
export { setChannel, rollbackChannel } from './trust/channels.js';
export { pull } from './cache/pull.js';
export { listCache, useCached, rollbackCached } from './cache/switch.js';
export { buildInitramfs, fingerprintInitramfs } from './initramfs/builder.js';
export { buildBootManifest, bootManifestBytes } from './initramfs/boot-manifest.js';
export { detectAccelerator } from './vm/accel.js';
export { bootKernel } from './vm/qemu-boot.js';
export { renderProfile } from './provision/render-profile.js';
export { buildSeed } from './provision/seed.js';
export { launch, resume, backends, type LaunchOptions, type LaunchResult } from './provision/launch/launch.js';
export type { Backend, BackendContext, DataDisk, Instance, LaunchSpec, Runner } from './provision/launch/backend.js';
export { listVms, startVm, stopVm, deleteVm, execInVm, openVm } from './provision/launch/lifecycle.js';
export { readRecord, listRecords, vmsDir, type VmRecord } from './provision/launch/vm-state.js';
export { parseSteps, type Step } from './provision/steps.js';
