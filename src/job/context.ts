// The `cr` object a job receives: registration (state, region), the safe point (checkpoint),
// and reporting (progress, log). One JobContext per job attempt, in the thread that runs it.
import type { RegisteredRegion } from '../capture/capture.js';
import type { CapturePreference } from '../capture/cow.js';
import { checkName, checkRegion, regionTypeName, StateRegistry } from '../capture/registration.js';
import type { DirtyPreference } from '../capture/dirty.js';
import { RegionTracker } from '../capture/tracker.js';
import type { JobIdentity, RegionArray, RegionConstructor } from '../image/format.js';
import type { ImageWriter } from '../image/writer.js';
import { CheckpointPolicy, type PolicyOptions } from '../policy.js';
import { allocateRegion, type RegionMemory } from '../region.js';
import type { ImageInfo, RestoredImage } from '../restore.js';
import type { LocalStore } from '../store/local-store.js';
import { Checkpointer, NO_CHECKPOINT, type CheckpointInfo, type CheckpointOptions, type JobEvents } from '../pipeline/checkpointer.js';
import { CLOCK_STATE_NAME, JobClock } from '../determinism/clock.js';
import { FILES_STATE_NAME, FileRegistry, type CrFile } from '../determinism/files.js';
import { PROTECT_PREFIX, ProtectRegistry, type ProtectedMemory } from '../determinism/protect.js';
import { RNG_STATE_NAME, RngRegistry, type Rng, type Seed } from '../determinism/rng.js';
import { MAX_TEAM_SIZE, SharedRegistry, Team, memberModuleUrl } from '../team/team.js';

/**
 * Staging memory for the regions is reserved and warmed (off the job's thread) this long before
 * the first checkpoint by time is due: warming 1 GiB took 0.4–3.5 s on these machines.
 */
const STAGING_WARM_LEAD_MS = 30_000;

export type { CheckpointInfo, CheckpointOptions, ImageCommitted, JobEvents } from '../pipeline/checkpointer.js';

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
  /**
   * How regions are captured at a safe point: 'auto' (copy-on-write for large regions while it
   * pays, by measurement; default, or CR_CAPTURE), 'cow' (wherever possible) or 'stage' (copied
   * at the safe point). See docs/incremental.md.
   */
  capture?: CapturePreference;
  /** Staging memory for background writes, bytes (default 1 GiB); beyond it the job waits for the write. */
  stagingBudgetBytes?: number;
  /** Shared control word written by the runner (policy.ts CONTROL_*); null when run alone. */
  control: Int32Array | null;
  events: JobEvents;
  /** Recorded in every image (docs/image-format.md, "Job identity"); default null. */
  identity?: JobIdentity | null;
}


export class JobContext {
  readonly restored: boolean;
  readonly attempt: number;
  /** The image this attempt was restored from, or null on a fresh start. */
  readonly image: ImageInfo | null;

  readonly #options: JobContextOptions;
  readonly #policy: CheckpointPolicy;
  readonly #registry: StateRegistry;
  /** The registry's states: what each image captures. */
  readonly #states: Map<string, unknown>;
  readonly #regions = new Map<string, RegisteredRegion>();
  /** Settles (never rejects) when the checkpoint in flight is committed or has failed. */
  readonly #checkpointer: Checkpointer;
  #calls = 0;
  #closed = false;
  #trackingWarned = false;
  // The state cr keeps for the job itself, as states named "cr:*" and regions "cr:protect:*".
  readonly #clock: JobClock;
  #rng: RngRegistry | null = null;
  #defaultRng: Rng | null = null;
  #files: FileRegistry | null = null;
  readonly #protected = new ProtectRegistry();
  readonly #shared: SharedRegistry;
  #team: Team | null = null;

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
      identity: options.identity ?? null,
    });
    this.#policy.prepareBefore(STAGING_WARM_LEAD_MS, () => this.#checkpointer.prepareStaging());
    const restored = options.restored;
    this.#registry = new StateRegistry((name) => restored?.state(name)?.value);
    this.#states = this.#registry.states;
    this.#shared = new SharedRegistry(restored);
    this.#clock = new JobClock(restored?.state(CLOCK_STATE_NAME)?.value);
    this.#states.set(CLOCK_STATE_NAME, this.#clock.value);
    // Carried from image to image even in an attempt that does not use them again.
    const rng = restored?.state(RNG_STATE_NAME);
    if (rng) this.#rngRegistry(rng.value);
    const files = restored?.state(FILES_STATE_NAME);
    if (files) this.#fileRegistry(files.value);
  }

  /**
   * Registers a structured value under `name` and returns it: the checkpointed value after a
   * restart, `initial` otherwise. The job updates the returned object in place.
   */
  state<T>(name: string, initial: T): T {
    this.#checkOpen('state');
    return this.#registry.register(name, initial);
  }

  /**
   * A typed array of `length` elements over native, page-aligned memory outside the JS heap:
   * zeroed on a fresh start, holding the checkpointed contents after a restart.
   */
  region<C extends RegionConstructor>(name: string, Ctor: C, length: number): InstanceType<C> {
    this.#checkOpen('region');
    const type = checkRegion(name, Ctor, length, (n) => this.#regions.has(n));
    const restored = this.#options.restored;
    const memory = restored?.hasRegion(name) ? restored.region(name, Ctor, type, length) : allocateRegion(name, Ctor, length);
    if (restored && !restored.hasRegion(name)) {
      this.#options.events.warning(`region ${JSON.stringify(name)} is not in image ${restored.info.id}: it starts zeroed`);
    }
    this.#regions.set(name, { type, elementSize: Ctor.BYTES_PER_ELEMENT, memory, tracker: this.#track(name, memory) });
    let bytes = 0;
    for (const r of this.#regions.values()) bytes += r.memory.bytes.length;
    this.#checkpointer.expectRegionBytes(bytes);
    return memory.array as InstanceType<C>;
  }

  /** Starts dirty tracking of a region (after its restore), or says once why blocks will be hashed instead. */
  #track(name: string, memory: RegionMemory): RegionTracker | null {
    try {
      return RegionTracker.start(memory, this.#options.writer.blockSize, this.#options.dirty ?? 'auto', this.#options.capture ?? 'auto');
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
    if (this.#team !== null) return Promise.reject(new TypeError('cr.checkpoint() was called while a team runs: the team\'s members take its checkpoints'));
    return this.#take(options?.force === true, options?.durable === true);
  }

  #take(forced: boolean, durable: boolean): Promise<CheckpointInfo | null> {
    // What cr keeps for the job is brought up to this safe point first; output files are made
    // durable here, before the image that records their length can exist (files.ts).
    this.#clock.capture();
    this.#rng?.capture();
    this.#files?.capture();
    const team = this.#team;
    const extra = this.#protected.size + this.#shared.size > 0 || team !== null;
    const states = team === null ? this.#states : new Map([...this.#states, ...team.states()]);
    const regions = !extra ? this.#regions : new Map([...this.#regions, ...this.#protected.regions(), ...this.#shared.regions(), ...(team?.regions() ?? [])]);
    return this.#checkpointer.take(states, regions, this.#calls, forced, durable);
  }

  /**
   * Starts a team of `n` worker threads running the default export of `workerFile` (each with
   * its own `cr`: state, region, shared, a collective checkpoint) and resolves with their results
   * by rank. A member that fails ends the attempt, so the whole team restarts from the last image.
   */
  async team(n: number, workerFile: string | URL, args?: unknown): Promise<unknown[]> {
    this.#checkOpen('team');
    if (!Number.isInteger(n) || n < 1 || n > MAX_TEAM_SIZE) throw new RangeError(`team(n, workerFile, args): n must be a whole number from 1 to ${MAX_TEAM_SIZE}, got ${String(n)}`);
    const url = memberModuleUrl(workerFile);
    if (this.#team !== null) throw new TypeError('team(n, workerFile, args): a team is already running in this job');
    const team = new Team(
      {
        restored: this.#options.restored,
        attempt: this.attempt,
        control: this.#options.control,
        everyCalls: this.#options.policy.everyCalls,
        intervalMs: () => this.#policy.intervalMs,
        events: this.#options.events,
        shared: this.#shared,
        capture: () => this.#take(true, false),
      },
      n,
    );
    this.#team = team;
    try {
      return await team.run(url, args);
    } finally {
      this.#team = null;
    }
  }

  /** A typed array over the SharedArrayBuffer `name` that the job's team members share; captured once per image. */
  shared<C extends RegionConstructor>(name: string, Ctor: C, length: number): InstanceType<C> {
    this.#checkOpen('shared');
    const buffer = this.#shared.get(name, regionTypeName(Ctor), length);
    return new Ctor(buffer as unknown as ArrayBuffer, 0, length) as InstanceType<C>;
  }

  /** A double in [0, 1) from the job's default random stream, which restarts continue. */
  random(): number {
    return (this.#defaultRng ??= this.#rngRegistry().default).random();
  }

  /** The random stream of `seed` (or of `name`), continued after a restart; no arguments: the default stream. */
  rng(seed?: Seed, name?: string): Rng {
    this.#checkOpen('rng');
    return this.#rngRegistry().get(seed, name);
  }

  /** Compute time summed over the attempts that led to this moment, ms. */
  elapsed(): number {
    return this.#clock.elapsed();
  }

  /** The wall clock (ms since the epoch), for log lines: not captured, not repeatable. */
  now(): number {
    return Date.now();
  }

  /** Opens a file whose length (output) or read position (input) follows the job's images. */
  open(path: string, mode: 'r' | 'w' | 'a' = 'r'): CrFile {
    this.#checkOpen('open');
    return this.#fileRegistry().open(path, mode);
  }

  /** Registers memory the job owns; restores its contents in place after a restart. */
  protect<M extends ProtectedMemory>(name: string, memory: M): M {
    this.#checkOpen('protect');
    checkName('protect', name, PROTECT_PREFIX);
    return this.#protected.protect(name, memory, this.#options.restored);
  }

  #rngRegistry(restored?: unknown): RngRegistry {
    if (this.#rng === null) {
      this.#rng = new RngRegistry(restored, (m) => this.#options.events.warning(m));
      this.#states.set(RNG_STATE_NAME, this.#rng.value);
    }
    return this.#rng;
  }

  #fileRegistry(restored?: unknown): FileRegistry {
    if (this.#files === null) {
      this.#files = new FileRegistry(restored, this.image?.id ?? null, (m) => this.#options.events.warning(m));
      this.#states.set(FILES_STATE_NAME, this.#files.value);
    }
    return this.#files;
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
    this.#files?.closeAll();
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

function inspectValue(value: unknown): string {
  if (value instanceof Error) return value.stack ?? value.message;
  try {
    return typeof value === 'bigint' ? `${value}n` : JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
