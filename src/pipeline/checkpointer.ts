// The checkpoint pipeline of one job attempt, after the policy said a checkpoint is due: capture
// (states serialized, changed blocks found), the image plan (image/plan.ts) and staging while the
// job waits, and the commit (commit.ts) on the job's image writer thread (background-writer.ts;
// docs/incremental.md, "Staging"), which starts on the first staged blocks while the rest are
// copied; or on this thread while the job waits when the image could not be staged. At most one
// in flight.
import type { RegisteredRegion } from '../capture/capture.js';
import { captureSections } from '../capture/capture.js';
import { DEFAULT_STAGING_BUDGET_BYTES, Staging, type StagingCopy } from '../capture/staging.js';
import { SerializationArena } from '../capture/serialization-arena.js';
import { CheckpointError, CrError, JobStoppedError } from '../errors.js';
import { imageId, type JobIdentity, type Manifest } from '../image/format.js';
import { blocksToStage, planImage, type ImagePlan } from '../image/plan.js';
import { sectionKey, type SectionInput } from '../image/sections.js';
import type { ImageWriter } from '../image/writer.js';
import { CONTROL_NONE, CONTROL_STOP, type CheckpointPolicy } from '../policy.js';
import type { LocalStore } from '../store/local-store.js';
import { BackgroundWriter } from './background-writer.js';
import { checkpointFailure, commitImage, systemErrorCode, type CommitRequest, type CommittedImage } from './commit.js';

export interface CheckpointOptions {
  /** Take a checkpoint now, whether or not one is due. With `durable`, a failure rejects instead of warning. */
  force?: boolean;
  /**
   * Resolve only once the image is committed (durable on disk). Without it, `checkpoint()`
   * resolves as soon as what the image needs is captured, and the image is encoded and written
   * while the job goes on; `info.committed` resolves when it is durable.
   */
  durable?: boolean;
}

/** An image's figures once it is committed. */
export interface ImageCommitted {
  id: string;
  sequence: number;
  file: string;
  /** Bytes of the image file. */
  bytes: number;
  /** Bytes of state and region data it holds. */
  rawBytes: number;
  /** rawBytes / bytes. */
  ratio: number;
  /** True when the image shares unchanged blocks with older images. */
  incremental: boolean;
  /** Raw bytes of the blocks shared with older images rather than written again. */
  sharedBytes: number;
  /** Time the job was paused in `checkpoint()`: waiting for the previous image, capture and staging, ms. */
  pauseMs: number;
  /** From the end of the pause to the durable image, ms. */
  commitMs: number;
  /** From the call to the durable image, ms. */
  totalMs: number;
}

/**
 * What `cr.checkpoint()` resolves to when it took an image: all figures when it was durable
 * (`{ durable: true }`, or when the image could not be staged), else the image's name and the
 * job's pause, with `committed` to await the rest.
 */
export type CheckpointInfo =
  | (ImageCommitted & { durable: true; committed: Promise<ImageCommitted> })
  | { durable: false; id: string; sequence: number; file: string; pauseMs: number; committed: Promise<ImageCommitted> };

/** How a JobContext reports to whoever runs the job (the runner's main thread, a test...). */
export interface JobEvents {
  progress(fraction: number, message: string | null): void;
  log(line: string): void;
  warning(message: string): void;
  checkpoint(info: ImageCommitted): void;
  /** A checkpoint failed here (besides the warning, or the rejection the job sees): for metrics. Optional: a listener without it sees only the warning. */
  checkpointFailed?(failure: CheckpointFailed): void;
}

/**
 * A checkpoint that failed on this machine: `write` is any failure between the pause and the
 * durable image (its sequence, its encoding, its write, fsync or rename). `code` is the CrError's
 * code, `errno` the system error under it (ENOSPC...), if any.
 */
export interface CheckpointFailed {
  stage: 'write';
  code: string;
  errno: string | null;
  message: string;
}

/** The CheckpointFailed event of an error a checkpoint's write rejected with. */
export function checkpointFailed(err: unknown): CheckpointFailed {
  return { stage: 'write', code: err instanceof CrError ? err.code : 'CR_CHECKPOINT_FAILED', errno: systemErrorCode(err), message: (err as Error)?.message ?? String(err) };
}

/** What a safe point that takes no image returns: one promise, shared, so returning it allocates nothing. */
export const NO_CHECKPOINT: Promise<null> = Promise.resolve(null);

/** How long a due checkpoint waits for staging memory being warmed before it is written unstaged. */
const MAX_WARM_WAIT_MS = 60_000;

export interface CheckpointerOptions {
  job: string;
  attempt: number;
  store: LocalStore;
  writer: ImageWriter;
  events: JobEvents;
  policy: CheckpointPolicy;
  /** Every fullEvery-th image is full. */
  fullEvery: number;
  /** Staging memory budget, bytes. */
  stagingBudgetBytes?: number;
  /** The image the attempt was restored from: the first incremental image follows it. */
  restored: Manifest | null;
  /** Recorded in every image: what computation it belongs to. */
  identity: JobIdentity | null;
}

export class Checkpointer {
  readonly #options: CheckpointerOptions;
  readonly #policy: CheckpointPolicy;
  readonly #staging: Staging;
  /** Settles (never rejects) when the checkpoint in flight is committed or has failed. */
  #inflight: Promise<void> | null = null;
  /** The last image committed (or restored from): what the next image's plan starts from. */
  #previous: Manifest | null;
  /** Set once the job was told to stop: every later safe point throws again. */
  #stopped: JobStoppedError | null = null;
  /** Encodes, writes and commits staged images on a thread of its own. */
  readonly #background: BackgroundWriter;
  /** Where the states are serialized, from one checkpoint to the next (their streams are staged, so it is free again after the pause). */
  readonly #arena = new SerializationArena();
  /** Set while a capture runs (synchronously): a checkpoint asked for from inside it is refused. */
  #capturing = false;
  /** Bytes of the job's regions, and whether staging for them may be reserved yet. */
  #expectedBytes = 0;
  #prepared = false;

  constructor(options: CheckpointerOptions) {
    if (!Number.isInteger(options.fullEvery) || options.fullEvery < 1) throw new RangeError('fullEvery must be a positive whole number');
    this.#options = options;
    this.#policy = options.policy;
    this.#background = new BackgroundWriter(options.store, options.writer);
    this.#staging = new Staging(options.stagingBudgetBytes ?? DEFAULT_STAGING_BUDGET_BYTES, (memory, ready) => this.#background.warm(memory, ready));
    this.#previous = options.restored;
  }

  /** The stop that ended the job, once a stop request was served. */
  get stopped(): JobStoppedError | null {
    return this.#stopped;
  }

  /** True while an image is being encoded and written in the background. */
  get busy(): boolean {
    return this.#inflight !== null;
  }

  /**
   * A not-due safe point while an image is written in the background: completes the commit if
   * the writer thread has finished it (one shared-memory load when it has not).
   */
  poll(): Promise<null> {
    this.#background.poll();
    return NO_CHECKPOINT;
  }

  /**
   * The job's regions now total `bytes`: staging memory for them is reserved (and warmed off the
   * job's thread) once `prepareStaging()` was called, at once if it was already.
   */
  expectRegionBytes(bytes: number): void {
    this.#expectedBytes = bytes;
    if (this.#prepared) this.#staging.reserve(bytes);
  }

  /** Called ahead of the first checkpoint (CheckpointPolicy.prepareBefore): reserve staging now. */
  prepareStaging(): void {
    this.#prepared = true;
    if (this.#expectedBytes > 0) this.#staging.reserve(this.#expectedBytes);
  }

  /** Waits for the checkpoint in flight, then stops the image writer thread. */
  async close(): Promise<void> {
    await this.#inflight;
    await this.#background.close();
  }

  /** Takes a checkpoint of `states` and `regions` at this safe point (the `calls`-th). */
  async take(
    states: Map<string, unknown>,
    regions: Map<string, RegisteredRegion>,
    calls: number,
    forced: boolean,
    durable: boolean,
  ): Promise<CheckpointInfo | null> {
    if (this.#capturing) {
      // The serializer calls a state's getters, and a getter that takes a checkpoint would capture
      // into the arena (and staging) the capture under way is still filling.
      throw new CheckpointError('checkpoint() was called while a checkpoint was capturing the states (from a getter of a state\'s value?): a state\'s getters must not take checkpoints');
    }
    // A checkpoint that falls due while its staging memory is still being warmed is put off to
    // the next safe points until it is warm (at most MAX_WARM_WAIT_MS): written unstaged, its
    // image would pause the job for the whole commit. Not a forced one, nor one the runner asked
    // for (a stop must not wait).
    if (!forced && this.#policy.request() === CONTROL_NONE && this.#staging.warming(MAX_WARM_WAIT_MS)) return null;
    const started = performance.now();
    // At most one checkpoint in flight: a safe point reached while one is being written waits.
    while (this.#inflight) await this.#inflight;
    const { store, job, events } = this.#options;
    const stopping = this.#policy.request() === CONTROL_STOP;
    this.#policy.clearCheckpointRequest();

    const { sections, plan, staging } = this.#capture(states, regions, started);
    const staged = staging !== null;
    let sequence: number;
    try {
      sequence = store.nextSequence(job);
    } catch (err) {
      this.#policy.rearm(performance.now() - started);
      const failure = checkpointFailure(err, job, null);
      events.checkpointFailed?.(checkpointFailed(failure));
      if (forced && durable && !stopping) throw failure;
      events.warning(failure.message);
      if (stopping) throw (this.#stopped = new JobStoppedError(null));
      return null;
    }
    const file = store.imageFile(job, sequence);
    const id = imageId(job, sequence);

    const meta: Record<string, unknown> = { calls, chain: plan.chain };
    const header = { job, sequence, attempt: this.#options.attempt, createdAt: new Date(started + performance.timeOrigin), meta, identity: this.#options.identity };
    // A staged image goes to the writer thread before its blocks are copied: it encodes and
    // writes the first ones while this thread copies the rest (StagingCopy.copy).
    const timing = { started, pauseMs: 0 };
    const commit = this.#commit({ header, sections, plan }, staged, regions, timing);
    // Internal bookkeeping must never see a rejection; the job sees it through `committed`.
    this.#inflight = commit.then(
      () => {
        this.#inflight = null;
      },
      () => {
        this.#inflight = null;
      },
    );
    try {
      staging?.copy();
    } catch (err) {
      // An internal error: the writer thread saw the copy fail, and the commit rejects with it.
      commit.catch(() => undefined);
      this.#policy.rearm(performance.now() - started);
      throw err;
    }
    const pauseMs = (timing.pauseMs = performance.now() - started);
    // The next interval starts now: what the job pays for a checkpoint is its pause.
    this.#policy.rearm(pauseMs);
    if (!durable && !stopping && staged) {
      // The job goes on now; a failure is reported as a warning (and through `committed`).
      commit.catch((err: Error) => {
        events.checkpointFailed?.(checkpointFailed(err));
        events.warning(err.message);
      });
      return { durable: false, id, sequence, file, pauseMs, committed: commit };
    }
    let info: CheckpointInfo | null = null;
    try {
      info = { ...(await commit), durable: true, committed: commit };
    } catch (err) {
      // As for a staged image: only { force: true, durable: true } turns a failed write into a
      // rejection; otherwise the job is warned and goes on, and `committed` rejects.
      events.checkpointFailed?.(checkpointFailed(err));
      if (forced && durable && !stopping) throw err;
      events.warning((err as Error).message);
      if (!durable && !stopping) return { durable: false, id, sequence, file, pauseMs, committed: commit };
    }
    if (stopping) {
      this.#stopped = new JobStoppedError(info?.id ?? null);
      throw this.#stopped;
    }
    return info;
  }

  /**
   * Capture, while the job is paused: states serialized, changed region blocks found, the image
   * planned and staged. Refuses (StateCaptureError) a state that cannot be captured: the job's own
   * bug, it must see it.
   */
  #capture(states: Map<string, unknown>, regions: Map<string, RegisteredRegion>, started: number): { sections: SectionInput[]; plan: ImagePlan; staging: StagingCopy | null } {
    this.#capturing = true;
    try {
      let sections: SectionInput[];
      try {
        sections = captureSections(states, regions, this.#arena);
      } catch (err) {
        this.#policy.rearm(performance.now() - started);
        throw err;
      }
      const changed = new Map<string, Uint8Array>();
      for (const [name, region] of regions) {
        const blocks = region.tracker?.capture() ?? null;
        if (blocks !== null) changed.set(sectionKey({ kind: 'region', name }), blocks);
      }
      const plan = planImage(sections, { previous: this.#previous, blockSize: this.#options.writer.blockSize, fullEvery: this.#options.fullEvery, changed });
      return { sections, plan, staging: this.#stage(sections, plan, regions) };
    } finally {
      this.#capturing = false;
    }
  }

  /**
   * Lays out in staging memory what the image will read — regions and the typed arrays inside
   * states, which capture references rather than copies, and the states' v8 streams — so that the
   * job may write to them again as soon as the returned copy has run: the blocks the plan writes or
   * leaves to their hash (blocksToStage), which for an untracked or full section is every block. A
   * region whose capture chose copy-on-write only gets its slots: its blocks are copied into them
   * in the background (capture/cow.ts), from now on. Returns null when it did not fit the staging
   * budget: the image is then written from the job's memory itself while the job waits.
   */
  #stage(sections: SectionInput[], plan: ImagePlan, regions: Map<string, RegisteredRegion>): StagingCopy | null {
    // Every byte the writer thread reads is in staging memory, a state's v8 stream too, though
    // nothing else holds it: handed over by transferring its ArrayBuffer, it would be detached,
    // and once one ArrayBuffer of an isolate is detached V8 checks every typed-array access of
    // the job's optimized code for it, for good (heat2d's sweeps took 24% longer after its first
    // checkpoint). A copy into warm staging memory is cheap next to that.
    const requests = sections.map((s, i) => {
      const tracker = s.kind === 'region' ? regions.get(s.name)?.tracker : undefined;
      return { data: s.data, blocks: blocksToStage(plan.sections[i]!), deferred: tracker?.copyOnWrite === true };
    });
    const staging = this.#staging.stage(requests, this.#options.writer.blockSize);
    if (staging === null) return null;
    sections.forEach((s, i) => {
      const blocks = staging.sections[i]!;
      if (requests[i]!.deferred) blocks.ready = regions.get(s.name)!.tracker!.flush(blocks.memory, blocks.slots);
      s.staged = blocks;
    });
    return staging;
  }

  /**
   * Encodes, writes and commits the image: a staged one on the image writer thread while the job
   * goes on, else on this thread from the job's memory. Resolves with its figures, rejects with a CrError.
   */
  async #commit(request: CommitRequest, staged: boolean, regions: Map<string, RegisteredRegion>, timing: { started: number; pauseMs: number }): Promise<ImageCommitted> {
    const { store, writer, events } = this.#options;
    const image = staged ? await this.#background.write(request) : await commitImage(store, writer, request, { direct: false, warnings: null });
    for (const warning of image.warnings) events.warning(warning);
    return this.#committed(image, regions, timing.pauseMs, timing.started);
  }

  /** Bookkeeping once an image is durable: trackers, the next image's parent, the event. */
  #committed(result: CommittedImage, regions: Map<string, RegisteredRegion>, pauseMs: number, started: number): ImageCommitted {
    const outcomes = new Map(result.sections.map((o) => [o.key, o.changedShare]));
    for (const [name, region] of regions) {
      // What this image measured of the region: the share of its blocks that changed.
      region.tracker?.committed(outcomes.get(sectionKey({ kind: 'region', name })) ?? null);
    }
    this.#previous = result.manifest;
    const done = performance.now();
    const committed: ImageCommitted = {
      id: result.manifest.id,
      sequence: result.manifest.sequence,
      file: result.file,
      bytes: result.bytes,
      rawBytes: result.rawBytes,
      ratio: result.rawBytes / result.bytes,
      incremental: result.manifest.parent !== null,
      sharedBytes: result.sharedBytes,
      pauseMs,
      commitMs: done - started - pauseMs,
      totalMs: done - started,
    };
    this.#options.events.checkpoint(committed);
    return committed;
  }
}
