// The `cr` object a job receives: registration (state, region), the safe point (checkpoint),
// and reporting (progress, log). One JobContext per job attempt, in the thread that runs it.
import { captureSections, type RegisteredRegion } from '../capture/capture.js';
import { StateCaptureError, CheckpointError, JobStoppedError, CrError } from '../errors.js';
import { imageId, REGION_TYPES, type Manifest, type RegionArray, type RegionConstructor, type RegionTypeName } from '../image/format.js';
import type { ImageWriter } from '../image/writer.js';
import { CheckpointPolicy, CONTROL_STOP, type PolicyOptions } from '../policy.js';
import { allocateRegion, type RegionMemory } from '../region.js';
import { RegionTracker, type DirtyPreference } from '../capture/dirty.js';
import { matchingSection, sectionKey, type SectionInput } from '../image/writer.js';
import { DEFAULT_STAGING_BUDGET_BYTES, Staging } from '../capture/staging.js';
import type { ImageInfo, RestoredImage } from '../restore.js';
import type { LocalStore } from '../store/local-store.js';

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
}

export interface JobContextOptions {
  job: string;
  attempt: number;
  store: LocalStore;
  writer: ImageWriter;
  restored: RestoredImage | null;
  policy: PolicyOptions;
  /**
   * Every `fullEvery`-th image is full; those between are incremental (unchanged blocks are
   * shared with older images), which bounds the chain a restore follows. 1: always full.
   */
  fullEvery: number;
  /** How changed blocks are found: 'auto' (dirty tracking where available, default) or 'hash'. */
  dirty?: DirtyPreference;
  /** Staging memory for background writes, bytes (default 1 GiB); beyond it the job waits for the write. */
  stagingBudgetBytes?: number;
  /** Shared control word written by the runner (policy.ts CONTROL_*); null when run alone. */
  control: Int32Array | null;
  events: JobEvents;
}

const RESOLVED_NULL: Promise<CheckpointInfo | null> = Promise.resolve(null);

export class JobContext {
  readonly restored: boolean;
  readonly attempt: number;
  /** The image this attempt was restored from, or null on a fresh start. */
  readonly image: ImageInfo | null;

  readonly #options: JobContextOptions;
  readonly #policy: CheckpointPolicy;
  readonly #states = new Map<string, unknown>();
  readonly #regions = new Map<string, RegisteredRegion>();
  /** Settles (never rejects) when the checkpoint in flight is committed or has failed. */
  #inflight: Promise<void> | null = null;
  readonly #staging: Staging;
  #calls = 0;
  #closed = false;
  #trackingWarned = false;
  /** The last image committed (or restored from), and how many incremental images follow its full one. */
  #previous: { manifest: Manifest; chain: number } | null;
  /** Set once the job was told to stop: every later safe point throws again. */
  #stopped: JobStoppedError | null = null;

  constructor(options: JobContextOptions) {
    this.#options = options;
    this.restored = options.restored !== null;
    this.attempt = options.attempt;
    this.image = options.restored?.info ?? null;
    this.#policy = new CheckpointPolicy(options.policy, options.control);
    this.#staging = new Staging(options.stagingBudgetBytes ?? DEFAULT_STAGING_BUDGET_BYTES);
    if (!Number.isInteger(options.fullEvery) || options.fullEvery < 1) throw new RangeError('fullEvery must be a positive whole number');
    const restoredManifest = options.restored?.manifest ?? null;
    this.#previous = restoredManifest ? { manifest: restoredManifest, chain: chainOf(restoredManifest) } : null;
  }

  /**
   * Registers a structured value under `name` and returns it: the checkpointed value after a
   * restart, `initial` otherwise. The job updates the returned object in place.
   */
  state<T>(name: string, initial: T): T {
    this.#checkOpen('state');
    checkName('state', name);
    if (this.#states.has(name)) throw new TypeError(`state ${JSON.stringify(name)} is already registered`);
    if (typeof initial !== 'object' || initial === null) {
      throw new TypeError(
        `state ${JSON.stringify(name)} must be an object, array, Map, Set or typed array that the job updates in place ` +
          `(got ${initial === null ? 'null' : typeof initial}); wrap a number as { value: 0 }`,
      );
    }
    const restored = this.#options.restored?.state(name);
    const value = restored ? (restored.value as T) : initial;
    this.#states.set(name, value);
    return value;
  }

  /**
   * A typed array of `length` elements over native, page-aligned memory outside the JS heap:
   * zeroed on a fresh start, holding the checkpointed contents after a restart.
   */
  region<C extends RegionConstructor>(name: string, Ctor: C, length: number): InstanceType<C> {
    this.#checkOpen('region');
    checkName('region', name);
    if (this.#regions.has(name)) throw new TypeError(`region ${JSON.stringify(name)} is already registered`);
    const type = regionTypeName(Ctor);
    const memory = allocateRegion(name, Ctor, length);
    const restored = this.#options.restored;
    try {
      if (restored?.hasRegion(name)) {
        restored.restoreRegion(name, type, length, memory);
      } else if (restored) {
        this.#options.events.warning(`region ${JSON.stringify(name)} is not in image ${restored.info.id}: it starts zeroed`);
      }
    } catch (err) {
      memory.free();
      throw err;
    }
    this.#regions.set(name, { type, elementSize: Ctor.BYTES_PER_ELEMENT, memory, tracker: this.#track(name, memory) });
    return memory.array as InstanceType<C>;
  }

  /** Starts dirty tracking of a region (after its restore), or says once why blocks will be hashed instead. */
  #track(name: string, memory: RegionMemory): RegionTracker | null {
    try {
      return RegionTracker.start(memory, this.#options.writer.blockSize, this.#options.dirty ?? 'auto');
    } catch (err) {
      if (!this.#trackingWarned) {
        this.#trackingWarned = true;
        this.#options.events.warning(
          `cannot track writes to region ${JSON.stringify(name)} (${(err as Error).message}): changed blocks are found by comparing hashes`,
        );
      }
      return null;
    }
  }

  /** Frees a region's memory now; it is no longer checkpointed. Its array must not be used after. */
  free(nameOrArray: string | RegionArray): void {
    for (const [name, region] of this.#regions) {
      if (name === nameOrArray || region.memory.array === nameOrArray) {
        this.#regions.delete(name);
        region.memory.free();
        return;
      }
    }
    throw new TypeError(`no region ${typeof nameOrArray === 'string' ? JSON.stringify(nameOrArray) : 'with that array'} is registered`);
  }

  /**
   * A safe point. Takes a checkpoint when one is due and resolves to its info, else to null.
   * The not-due path allocates nothing and makes no system call.
   */
  checkpoint(options?: CheckpointOptions): Promise<CheckpointInfo | null> {
    this.#calls++;
    if (this.#stopped) return Promise.reject(this.#stopped);
    if (options?.force !== true && !this.#policy.isDue()) return RESOLVED_NULL;
    return this.#take(options?.force === true, options?.durable === true);
  }

  progress(fraction: number, message?: string): void {
    if (!Number.isFinite(fraction)) throw new RangeError('progress fraction must be a number from 0 to 1');
    this.#options.events.progress(Math.min(1, Math.max(0, fraction)), message ?? null);
  }

  log(...args: unknown[]): void {
    this.#options.events.log(args.map((a) => (typeof a === 'string' ? a : inspectValue(a))).join(' '));
  }

  /** Waits for a checkpoint in flight, frees every region and closes the image. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#inflight;
    for (const region of this.#regions.values()) region.memory.free();
    this.#regions.clear();
    const unused = this.#options.restored?.unused() ?? [];
    if (unused.length > 0) this.#options.events.warning(`the job did not ask for ${unused.join(', ')} of its image`);
    this.#options.restored?.close();
  }

  async #take(forced: boolean, durable: boolean): Promise<CheckpointInfo | null> {
    const started = performance.now();
    // At most one checkpoint in flight: a safe point reached while one is being written waits.
    while (this.#inflight) await this.#inflight;
    const { store, job, writer, events } = this.#options;
    const stopping = this.#policy.request() === CONTROL_STOP;
    this.#policy.clearCheckpointRequest();

    // Capture, while the job is paused: states serialized, changed region blocks found and staged.
    let sections: SectionInput[];
    try {
      sections = captureSections(this.#states, this.#regions);
    } catch (err) {
      this.#policy.rearm(performance.now() - started);
      throw err; // StateCaptureError: the job's own bug, it must see it
    }
    const changed = new Map<string, Uint8Array>();
    for (const [name, region] of this.#regions) {
      if (region.tracker) changed.set(sectionKey({ kind: 'region', name }), region.tracker.capture());
    }
    const previous = this.#previous !== null && this.#previous.chain + 1 < this.#options.fullEvery ? this.#previous : null;
    const staged = this.#stage(sections, previous, changed);
    const pauseMs = performance.now() - started;
    // The next interval starts now: what the job pays for a checkpoint is its pause.
    this.#policy.rearm(pauseMs);
    let sequence: number;
    try {
      sequence = store.nextSequence(job);
    } catch (err) {
      const failure = this.#failure(err, null);
      if (forced && durable && !stopping) throw failure;
      events.warning(failure.message);
      if (stopping) throw (this.#stopped = new JobStoppedError(null));
      return null;
    }
    const file = store.imageFile(job, sequence);
    const id = imageId(job, sequence);

    const meta = { calls: this.#calls, chain: previous ? previous.chain + 1 : 0 };
    const commit = this.#commit(sequence, sections, previous, changed, meta, pauseMs, started);
    // Internal bookkeeping must never see a rejection; the job sees it through `committed`.
    this.#inflight = commit.then(
      () => {
        this.#inflight = null;
      },
      () => {
        this.#inflight = null;
      },
    );
    if (!durable && !stopping && staged) {
      // The job goes on now; a failure is reported as a warning (and through `committed`).
      commit.catch((err: Error) => events.warning(err.message));
      return { durable: false, id, sequence, file, pauseMs, committed: commit };
    }
    let info: CheckpointInfo | null = null;
    try {
      info = { ...(await commit), durable: true, committed: commit };
    } catch (err) {
      if (forced && !stopping) throw err;
      events.warning((err as Error).message);
    }
    if (stopping) {
      this.#stopped = new JobStoppedError(info?.id ?? null);
      throw this.#stopped;
    }
    return info;
  }

  /**
   * Copies what the image will read from the job's memory — regions, and the typed arrays inside
   * states, which capture references rather than copies — into staging memory, so that the job
   * may write to them again at once. Tracked regions with a matching section in `previous` stage
   * only their changed blocks; the others stage every block (hashing reads them all). Returns
   * false when it did not fit the staging budget: the image is then written from the job's
   * memory itself while the job waits.
   */
  #stage(sections: SectionInput[], previous: { manifest: Manifest; chain: number } | null, changed: Map<string, Uint8Array>): boolean {
    type Live = Extract<SectionInput, { kind: 'region' } | { role: 'buffer' }>;
    const live = sections.filter((s): s is Live => s.kind === 'region' || s.role === 'buffer');
    const { blockSize } = this.#options.writer;
    const requests = live.map((s) => {
      const blocks = s.kind === 'region' ? (changed.get(sectionKey(s)) ?? null) : null;
      const shares = previous !== null && matchingSection({ manifest: previous.manifest }, { ...s, length: s.data.length }, blockSize) !== null;
      return { data: s.data, blocks: shares ? blocks : null };
    });
    const staged = this.#staging.stage(requests, blockSize);
    if (staged === null) return false;
    live.forEach((s, i) => (s.staged = staged[i]));
    return true;
  }

  /** Encodes, writes and commits the image; resolves with its figures, rejects with a CrError. */
  async #commit(
    sequence: number,
    sections: SectionInput[],
    previous: { manifest: Manifest } | null,
    changed: Map<string, Uint8Array>,
    meta: Record<string, unknown>,
    pauseMs: number,
    started: number,
  ): Promise<ImageCommitted> {
    const { store, job, writer } = this.#options;
    const captured = started + pauseMs;
    try {
      const { file, result } = await store.commit(job, sequence, (handle) =>
        writer.write(
          handle,
          { job, sequence, attempt: this.attempt, createdAt: new Date(started + performance.timeOrigin), meta },
          sections,
          previous ? { manifest: previous.manifest, changed } : null,
        ),
      );
      for (const region of this.#regions.values()) region.tracker?.committed();
      this.#previous = { manifest: result.manifest, chain: chainOf(result.manifest) };
      const done = performance.now();
      const committed: ImageCommitted = {
        id: result.manifest.id,
        sequence,
        file,
        bytes: result.bytes,
        rawBytes: result.rawBytes,
        ratio: result.rawBytes / result.bytes,
        incremental: result.manifest.parent !== null,
        sharedBytes: result.sharedBytes,
        pauseMs,
        commitMs: done - captured,
        totalMs: done - started,
      };
      this.#options.events.checkpoint(committed);
      return committed;
    } catch (err) {
      throw this.#failure(err, sequence);
    }
  }

  #failure(err: unknown, sequence: number | null): CrError {
    if (err instanceof CrError) return err;
    const { job } = this.#options;
    const what = sequence === null ? 'a checkpoint' : `checkpoint ${imageId(job, sequence)}`;
    return new CheckpointError(
      `${what} of job "${job}" failed: ${describeIoError(err)}; the previous image stays the latest and the job goes on`,
      { cause: err },
    );
  }

  #checkOpen(what: string): void {
    if (this.#closed) throw new TypeError(`cr.${what}() was called after the job ended`);
  }
}

/** How many incremental images lead to this one from its last full image (0 when full). */
function chainOf(manifest: Manifest): number {
  const chain = manifest.meta.chain;
  return manifest.parent === null ? 0 : typeof chain === 'number' && Number.isSafeInteger(chain) && chain > 0 ? chain : 1;
}

function checkName(what: string, name: unknown): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > 256) {
    throw new TypeError(`${what} name must be a non-empty string of at most 256 characters`);
  }
}

function regionTypeName(Ctor: unknown): RegionTypeName {
  for (const [name, C] of Object.entries(REGION_TYPES)) if (C === Ctor) return name as RegionTypeName;
  throw new TypeError(`region type must be a typed-array constructor (${Object.keys(REGION_TYPES).join(', ')})`);
}

function describeIoError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOSPC') return 'the disk is full (ENOSPC)';
  if (e?.code === 'EDQUOT') return 'the disk quota is exceeded (EDQUOT)';
  if (e?.code === 'EACCES' || e?.code === 'EPERM') return `permission denied (${e.code}) writing ${e.path ?? 'the store'}`;
  return e?.message ?? String(err);
}

function inspectValue(value: unknown): string {
  if (value instanceof Error) return value.stack ?? value.message;
  try {
    return typeof value === 'bigint' ? `${value}n` : JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
