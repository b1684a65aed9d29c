/**
 * `ingot mirror`: one store into another (typically S3 → a NAS directory),
 * verified, as a table of contents:
 *
 *   read the source (metadata, documents, index) → with a public key, verify
 *   the index (nothing is trusted before) → read the destination → plan →
 *   copy images, N at a time, each verified while it streams and committed
 *   atomically → then, only if every image made it: boot manifests and
 *   channel files (signatures checked), then the index and its signature
 *   last → then, only with --delete and only on a clean run: extras.
 *
 * Pointers come after what they point at, so a reader of the destination
 * sees either the old state or a complete new one; a killed run leaves
 * verified images, kept partial bytes (resumed next time) and the old index.
 */
import { ErrorCode, ExitCode, IngotError, asIngotError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { ProgressReporter } from '../log/progress.js';
import type { StoreBackend } from '../store/backend.js';
import type { ImageStore } from '../store/image-store.js';
import { INDEX_KEY, parseIndex, type Index } from '../trust/catalogue.js';
import type { PublicKey } from '../trust/minisign-format.js';
import { SIGNATURE_SUFFIX } from '../trust/signed-object.js';
import { judgeSignature } from '../serve/signatures.js';
import { mapLimit } from '../util/concurrency.js';
import { copyImage } from './copy.js';
import { readDest, readSource, type ImageDoc, type SignedDoc } from './inventory.js';
import { planMirror, type DocumentStep } from './plan.js';

/** Everything a mirror run needs; the CLI maps its flags onto this. */
export interface MirrorOptions {
  from: StoreBackend;
  to: ImageStore;
  /** Verify the source's signed index and copy only what it lists, byte for byte. */
  publicKey?: PublicKey;
  /** Remove destination objects the source does not have (only on a clean run). */
  delete?: boolean;
  dryRun?: boolean;
  /** Accept a source index older than the destination's. */
  allowRollback?: boolean;
  /** Images copied at once (default 2). */
  concurrency?: number;
  log: Logger;
  progress?: ProgressReporter;
  signal?: AbortSignal;
}

/** What happened to one object. */
export interface MirrorOutcome {
  key: string;
  kind: 'image' | 'document' | 'index' | 'extra';
  action: 'copy' | 'skip' | 'delete';
  status: 'copied' | 'skipped' | 'deleted' | 'failed' | 'held' | 'planned';
  reason: string;
  size?: number;
  /** Bytes read from the source. */
  bytes?: number;
  resumedFrom?: number;
  durationMs: number;
  error?: IngotError;
}

/** The run's summary (also `--json`). */
export interface MirrorResult {
  outcomes: MirrorOutcome[];
  failed: number;
  bytes: number;
  indexVersion?: number;
}

/** Mirrors `from` into `to`; see the module comment for the order. Failures are outcomes, not throws. */
export async function mirror(options: MirrorOptions): Promise<MirrorResult> {
  const { log, signal } = options;
  const source = await readSource(options.from, signal);
  const trusted = options.publicKey ? verifiedIndex(source.index, options.publicKey, options.from.displayUrl) : undefined;
  const docKeys = [...source.documents.map((d) => d.key), ...(source.index ? [INDEX_KEY] : [])];
  const dest = await readDest(options.to.backend, docKeys, signal);
  const plan = planMirror(source, dest);
  const empty = source.images.length === 0 && source.invalid.length === 0 && source.documents.length === 0 && !source.index;
  if (empty && options.delete && plan.extras.length > 0) {
    // A wrong --from (an empty bucket, a typo'd prefix) must not empty the destination.
    throw new IngotError(
      ErrorCode.usage,
      `the source ${options.from.displayUrl} is empty: refusing --delete, which would remove all ${plan.extras.length} objects of the destination`,
      {
        hint: 'check --from; to really empty the destination, delete it directly',
        exitCode: ExitCode.usage,
      },
    );
  }
  const outcomes: MirrorOutcome[] = source.invalid.map((bad) =>
    failed(bad.key, 'image', new IngotError(ErrorCode.metadataInvalid, `invalid metadata at the source: ${bad.key}: ${bad.problem}`, { path: bad.key })),
  );

  if (options.dryRun) {
    for (const step of plan.images) {
      const refusal = step.action === 'copy' && trusted ? refusalOf(step.doc, trusted) : undefined;
      outcomes.push(
        refusal
          ? { ...failed(step.doc.metadata.key, 'image', refusal), reason: `would be refused: ${refusal.message}` }
          : planned(step.doc.metadata.key, 'image', step.action, step.reason, step.doc.metadata.size),
      );
    }
    for (const step of [...plan.documents, ...(plan.index ? [plan.index] : [])])
      outcomes.push(planned(step.doc.key, step.doc.key === INDEX_KEY ? 'index' : 'document', step.action, step.reason));
    for (const key of options.delete ? plan.extras : []) outcomes.push(planned(key, 'extra', 'delete', 'not at the source'));
    return summarise(outcomes, trusted);
  }

  // Images: each verified on the way, committed atomically.
  const imageOutcomes = await mapLimit(plan.images, options.concurrency ?? 2, async (step): Promise<MirrorOutcome> => {
    const key = step.doc.metadata.key;
    const started = Date.now();
    if (step.action === 'skip')
      return { key, kind: 'image', action: 'skip', status: 'skipped', reason: step.reason, size: step.doc.metadata.size, durationMs: 0 };
    try {
      signal?.throwIfAborted();
      if (trusted) checkAgainstIndex(step.doc, trusted);
      const progress = options.progress?.start(key, step.doc.metadata.size);
      const result = await copyImage(options.from, options.to, step.doc, { ...(signal ? { signal } : {}), onBytes: (n) => progress?.advance(n) });
      progress?.done();
      log.info(result.resumedFrom ? `copied (resumed at byte ${result.resumedFrom})` : 'copied', { image: key, bytes: result.bytes });
      return {
        key,
        kind: 'image',
        action: 'copy',
        status: 'copied',
        reason: step.reason,
        size: step.doc.metadata.size,
        bytes: result.bytes,
        resumedFrom: result.resumedFrom,
        durationMs: Date.now() - started,
      };
    } catch (thrown) {
      const error = asIngotError(thrown);
      log.error(`not copied: ${error.message}`, { image: key, code: error.code });
      return { ...failed(key, 'image', error), action: 'copy', durationMs: Date.now() - started };
    }
  });
  outcomes.push(...imageOutcomes);

  // Pointers, only over a complete set of images: boot manifests and channels, then the index.
  const pointerSteps = [...plan.documents, ...(plan.index ? [plan.index] : [])];
  for (const step of pointerSteps) {
    const kind = step.doc.key === INDEX_KEY ? 'index' : 'document';
    const blocked = outcomes.some((o) => o.status === 'failed');
    if (blocked) {
      outcomes.push({
        key: step.doc.key,
        kind,
        action: step.action,
        status: step.action === 'skip' ? 'skipped' : 'held',
        reason: step.action === 'skip' ? step.reason : 'not copied: an earlier object failed',
        durationMs: 0,
      });
      continue;
    }
    outcomes.push(await copyDocument(step, kind, options, trusted));
  }

  // Extras: only when asked and only after a run without any failure.
  if (options.delete && plan.extras.length > 0) {
    if (outcomes.some((o) => o.status === 'failed') || signal?.aborted) {
      log.warn(`--delete: ${plan.extras.length} extra object(s) kept because this run had failures`);
      for (const key of plan.extras)
        outcomes.push({ key, kind: 'extra', action: 'delete', status: 'held', reason: 'kept: the run had failures', durationMs: 0 });
    } else {
      for (const key of plan.extras) {
        const started = Date.now();
        try {
          await options.to.backend.delete([key], signal);
          outcomes.push({ key, kind: 'extra', action: 'delete', status: 'deleted', reason: 'not at the source', durationMs: Date.now() - started });
        } catch (thrown) {
          outcomes.push({ ...failed(key, 'extra', asIngotError(thrown)), action: 'delete', durationMs: Date.now() - started });
        }
      }
    }
  } else if (plan.extras.length > 0) {
    log.info(`${plan.extras.length} object(s) in the destination are not at the source (kept; --delete removes them)`);
  }
  return summarise(outcomes, trusted);
}

/** The source index, verified and parsed; throws when it is missing, unsigned or does not verify. */
function verifiedIndex(doc: SignedDoc | undefined, publicKey: PublicKey, where: string): Index {
  if (!doc) {
    throw new IngotError(ErrorCode.signatureMissing, `the source has no signed index: ${where}`, {
      hint: 'sign it (`ingot sign`), or mirror without --public-key to check images against their metadata only',
    });
  }
  const verdict = judgeSignature(INDEX_KEY, doc.bytes, doc.signature, publicKey);
  if (verdict.status !== 'verified') {
    throw new IngotError(
      verdict.status === 'unsigned' ? ErrorCode.signatureMissing : (verdict.code ?? ErrorCode.signatureInvalid),
      `the source index does not verify: ${verdict.problem ?? 'no index.json.minisig'} (${where})`,
      {
        hint: 'nothing was copied: the source cannot be trusted with this key. Check --public-key, or re-sign the source store',
      },
    );
  }
  return parseIndex(doc.bytes, `${where.replace(/\/$/, '')}/${INDEX_KEY}`);
}

/** With a trusted index, an image is copied only if the index lists it with these metadata bytes. */
function checkAgainstIndex(doc: ImageDoc, index: Index): void {
  const m = doc.metadata;
  const entry = index.images.find((e) => e.path === m.path);
  if (!entry) {
    throw new IngotError(ErrorCode.notInIndex, `${m.path} is not in the signed index of the source`, {
      image: m.name,
      hint: 'it was published after the last signing, or added by hand; re-sign the source (`ingot sign`) to include it',
    });
  }
  if (entry.metadata !== doc.digest || entry.key !== m.key || entry.size !== m.size || entry.checksum !== m.checksum) {
    throw new IngotError(ErrorCode.digestMismatch, `the metadata of ${m.path} at the source differs from the signed index`, {
      image: m.name,
      expected: entry.metadata,
      actual: doc.digest,
      hint: 'the source metadata was changed after signing (tampered, or re-published without signing); not copied',
    });
  }
}

function refusalOf(doc: ImageDoc, index: Index): IngotError | undefined {
  try {
    checkAgainstIndex(doc, index);
    return undefined;
  } catch (error) {
    return asIngotError(error);
  }
}

/** Copies a document (then its signature), checking the signature first when a key is given. */
async function copyDocument(step: DocumentStep, kind: 'document' | 'index', options: MirrorOptions, trusted: Index | undefined): Promise<MirrorOutcome> {
  const { doc } = step;
  const started = Date.now();
  try {
    let note = '';
    if (options.publicKey) {
      const verdict = judgeSignature(doc.key, doc.bytes, doc.signature, options.publicKey);
      if (verdict.status === 'invalid') {
        throw new IngotError(verdict.code ?? ErrorCode.signatureInvalid, `${doc.key} at the source does not verify: ${verdict.problem}`, {
          path: doc.key,
          hint: 'not copied; re-sign it at the source',
        });
      }
      if (verdict.status === 'unsigned') note = ' (unsigned at the source)';
    }
    if (kind === 'index' && step.action === 'copy' && trusted) await refuseRollback(options, trusted);
    if (step.action === 'skip')
      return { key: doc.key, kind, action: 'skip', status: 'skipped', reason: step.reason + note, size: doc.bytes.length, durationMs: 0 };
    // Document first, signature second (as writers do); readers retry once on a mismatch.
    await options.to.backend.put(doc.key, doc.bytes, options.signal);
    if (doc.signature) await options.to.backend.put(doc.key + SIGNATURE_SUFFIX, doc.signature, options.signal);
    else if (step.dropSignature) await options.to.backend.delete([doc.key + SIGNATURE_SUFFIX], options.signal);
    options.log.info('copied', { image: doc.key });
    return {
      key: doc.key,
      kind,
      action: 'copy',
      status: 'copied',
      reason: step.reason + note,
      size: doc.bytes.length,
      bytes: doc.bytes.length,
      durationMs: Date.now() - started,
    };
  } catch (thrown) {
    const error = asIngotError(thrown);
    options.log.error(`not copied: ${error.message}`, { image: doc.key, code: error.code });
    return { ...failed(doc.key, kind, error), action: step.action, durationMs: Date.now() - started };
  }
}

/** Refuses to replace a destination index (verifying with the same key) by an older one. */
async function refuseRollback(options: MirrorOptions, source: Index): Promise<void> {
  if (options.allowRollback) return;
  const bytes = await options.to.backend.get(INDEX_KEY, options.signal);
  if (!bytes) return;
  const signature = await options.to.backend.get(INDEX_KEY + SIGNATURE_SUFFIX, options.signal);
  if (judgeSignature(INDEX_KEY, bytes, signature, options.publicKey).status !== 'verified') return;
  let current: Index;
  try {
    current = parseIndex(bytes);
  } catch {
    return;
  }
  if (source.version < current.version) {
    throw new IngotError(ErrorCode.indexRollback, `the source index (version ${source.version}) is older than the destination's (version ${current.version})`, {
      expected: `>= ${current.version}`,
      actual: String(source.version),
      hint: 'the source may be a stale replica or a replay; if it really was restored from an old state, re-run with --allow-rollback',
      exitCode: ExitCode.failed,
    });
  }
}

function failed(key: string, kind: MirrorOutcome['kind'], error: IngotError): MirrorOutcome {
  return { key, kind, action: 'copy', status: 'failed', reason: error.message, durationMs: 0, error };
}

function planned(key: string, kind: MirrorOutcome['kind'], action: MirrorOutcome['action'], reason: string, size?: number): MirrorOutcome {
  return { key, kind, action, status: action === 'skip' ? 'skipped' : 'planned', reason, ...(size !== undefined ? { size } : {}), durationMs: 0 };
}

function summarise(outcomes: MirrorOutcome[], index: Index | undefined): MirrorResult {
  return {
    outcomes,
    failed: outcomes.filter((o) => o.status === 'failed').length,
    bytes: outcomes.reduce((n, o) => n + (o.bytes ?? 0), 0),
    ...(index ? { indexVersion: index.version } : {}),
  };
}
