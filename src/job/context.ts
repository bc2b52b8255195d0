// The `cr` object a job receives: registration (state, region), the safe point (checkpoint),
// and reporting (progress, log). One JobContext per job attempt, in the thread that runs it.
import type { RegisteredRegion } from '../capture/capture.js';
import { RegionTracker, type DirtyPreference } from '../capture/dirty.js';
import { REGION_TYPES, type RegionArray, type RegionConstructor, type RegionTypeName } from '../image/format.js';
import type { ImageWriter } from '../image/writer.js';
import { CheckpointPolicy, type PolicyOptions } from '../policy.js';
import { allocateRegion, type RegionMemory } from '../region.js';
import type { ImageInfo, RestoredImage } from '../restore.js';
import type { LocalStore } from '../store/local-store.js';
import { Checkpointer, NO_CHECKPOINT, type CheckpointInfo, type CheckpointOptions, type JobEvents } from './checkpointer.js';

export type { CheckpointInfo, CheckpointOptions, ImageCommitted, JobEvents } from './checkpointer.js';

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
  readonly #checkpointer: Checkpointer;
  #calls = 0;
  #closed = false;
  #trackingWarned = false;

  constructor(options: JobContextOptions) {
    this.#options = options;
    this.restored = options.restored !== null;
    this.attempt = options.attempt;
    this.image = options.restored?.info ?? null;
    this.#policy = new CheckpointPolicy(options.policy, options.control);
    this.#checkpointer = new Checkpointer({
      job: options.job,
      attempt: options.attempt,
      store: options.store,
      writer: options.writer,
      events: options.events,
      policy: this.#policy,
      fullEvery: options.fullEvery,
      stagingBudgetBytes: options.stagingBudgetBytes,
      restored: options.restored?.manifest ?? null,
    });
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
    const restored = this.#options.restored;
    const memory = restored?.hasRegion(name) ? restored.region(name, Ctor, type, length) : allocateRegion(name, Ctor, length);
    if (restored && !restored.hasRegion(name)) {
      this.#options.events.warning(`region ${JSON.stringify(name)} is not in image ${restored.info.id}: it starts zeroed`);
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
    const stopped = this.#checkpointer.stopped;
    if (stopped !== null) return Promise.reject(stopped);
    if (options?.force !== true && !this.#policy.isDue()) {
      return this.#checkpointer.busy ? this.#checkpointer.poll() : NO_CHECKPOINT;
    }
    return this.#checkpointer.take(this.#states, this.#regions, this.#calls, options?.force === true, options?.durable === true);
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
    await this.#checkpointer.close();
    for (const region of this.#regions.values()) region.memory.free();
    this.#regions.clear();
    const unused = this.#options.restored?.unused() ?? [];
    if (unused.length > 0) this.#options.events.warning(`the job did not ask for ${unused.join(', ')} of its image`);
    this.#options.restored?.close();
  }

  #checkOpen(what: string): void {
    if (this.#closed) throw new TypeError(`cr.${what}() was called after the job ended`);
  }
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

function inspectValue(value: unknown): string {
  if (value instanceof Error) return value.stack ?? value.message;
  try {
    return typeof value === 'bigint' ? `${value}n` : JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
