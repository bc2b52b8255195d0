// Decides, at each safe point, whether a checkpoint is due. The not-due path is the hot path of
// every job loop: it allocates nothing and makes no system call (Atomics.load reads shared
// memory; the clock, itself a vDSO read, is consulted about once per millisecond).

/** Control words the runner writes into shared memory for the job's thread to see. */
export const CONTROL_NONE = 0;
/** Checkpoint at the next safe point, then go on. */
export const CONTROL_CHECKPOINT = 1;
/** Checkpoint at the next safe point, then stop the job (SIGTERM, SIGINT, drain). */
export const CONTROL_STOP = 2;

export interface PolicyOptions {
  /** Checkpoint when this many ms passed since the last one. null: not by time. Default 60 000. */
  intervalMs: number | null;
  /** Checkpoint every N safe points. null: not by count. Default null. */
  everyCalls: number | null;
  /**
   * Mean time between failures, in ms. When set, the interval is Young's optimum
   * sqrt(2 × checkpoint cost × MTBF) from the measured cost of the last checkpoint, bounded
   * below by 1 s; `intervalMs` then only seeds the first interval.
   */
  mtbfMs: number | null;
}

/** Checkpoint interval when none is given, ms. */
export const DEFAULT_INTERVAL_MS = 60_000;
/** Every this-many-th image is full when not told otherwise; those between are incremental. */
export const DEFAULT_FULL_EVERY = 8;
/** The clock is read about this often (ms of the job's time), not at every safe point. */
const CLOCK_PERIOD_MS = 1;
/** ...and at least every this many safe points, so a loop that slows down is noticed soon. */
const MAX_CALLS_PER_CLOCK = 1024;
export const MIN_YOUNG_INTERVAL_MS = 1_000;

/** Young's interval, sqrt(2 × checkpoint cost × MTBF), at least MIN_YOUNG_INTERVAL_MS (a cost under 1 ms counts 1 ms). */
export function youngIntervalMs(costMs: number, mtbfMs: number): number {
  return Math.max(MIN_YOUNG_INTERVAL_MS, Math.sqrt(2 * Math.max(costMs, 1) * mtbfMs));
}

export function resolvePolicyOptions(input: Partial<PolicyOptions> = {}): PolicyOptions {
  const intervalMs = input.intervalMs === undefined ? DEFAULT_INTERVAL_MS : input.intervalMs;
  const everyCalls = input.everyCalls ?? null;
  const mtbfMs = input.mtbfMs ?? null;
  if (intervalMs !== null && !(Number.isFinite(intervalMs) && intervalMs > 0)) {
    throw new RangeError('interval must be a positive number of seconds');
  }
  if (everyCalls !== null && !(Number.isInteger(everyCalls) && everyCalls > 0)) {
    throw new RangeError('every must be a positive whole number of safe points');
  }
  if (mtbfMs !== null && !(Number.isFinite(mtbfMs) && mtbfMs > 0)) {
    throw new RangeError('mtbf must be a positive number of seconds');
  }
  return { intervalMs, everyCalls, mtbfMs };
}

export class CheckpointPolicy {
  readonly #options: PolicyOptions;
  readonly #control: Int32Array | null;
  #dueAt: number;
  readonly #countCalls: boolean;
  #callsLeft: number;
  #intervalMs: number;
  /** Safe points until the next clock read, and how many there were between the last two. */
  #untilClock = 1;
  #clockEvery = 1;
  #lastClock: number;
  /** When prepareBefore's callback is due (performance.now() ms), Infinity when none is. */
  #noticeAt = Infinity;
  #prepare: (() => void) | null = null;

  constructor(options: PolicyOptions, control: Int32Array | null) {
    this.#options = options;
    this.#control = control;
    this.#intervalMs = options.intervalMs ?? Infinity;
    this.#lastClock = performance.now();
    this.#dueAt = this.#lastClock + this.#intervalMs;
    this.#countCalls = options.everyCalls !== null;
    this.#callsLeft = options.everyCalls ?? 0;
  }

  /** The current interval between checkpoints by time, ms (Infinity when not by time). */
  get intervalMs(): number {
    return this.#intervalMs;
  }

  isDue(): boolean {
    if (this.#control !== null && Atomics.load(this.#control, 0) !== CONTROL_NONE) return true;
    if (this.#countCalls && --this.#callsLeft <= 0) return true;
    if (--this.#untilClock > 0) return false;
    return this.#readClock();
  }

  /**
   * Reading the clock costs more than the rest of a not-due safe point together, so it is read
   * about every CLOCK_PERIOD_MS, judged from how fast safe points came since the last read.
   */
  #readClock(): boolean {
    const now = performance.now();
    const perCall = (now - this.#lastClock) / this.#clockEvery;
    this.#lastClock = now;
    const target = perCall <= 0 ? MAX_CALLS_PER_CLOCK : Math.floor(CLOCK_PERIOD_MS / perCall);
    // Shrink at once when safe points slow down; grow at most twofold per read, so one burst of
    // fast calls cannot make the policy blind for long.
    this.#clockEvery = Math.max(1, Math.min(MAX_CALLS_PER_CLOCK, target, this.#clockEvery * 2));
    this.#untilClock = this.#clockEvery;
    if (now >= this.#noticeAt) this.#notice();
    return now >= this.#dueAt;
  }

  /**
   * Calls `prepare` once, at the first safe point within `leadMs` of the first checkpoint by time
   * (at the first safe point when checkpoints come by count, or the interval is shorter), so
   * that work the first checkpoint needs done — warming staging memory — is started ahead of it,
   * and never by a job that ends before its first checkpoint. A checkpoint asked for by the
   * runner cannot be foreseen: it may come first.
   */
  prepareBefore(leadMs: number, prepare: () => void): void {
    this.#prepare = prepare;
    this.#noticeAt = this.#countCalls ? -Infinity : this.#dueAt - leadMs;
  }

  #notice(): void {
    this.#noticeAt = Infinity;
    const prepare = this.#prepare;
    this.#prepare = null;
    prepare?.();
  }

  /** The request the runner made, if any. */
  request(): number {
    return this.#control === null ? CONTROL_NONE : Atomics.load(this.#control, 0);
  }

  /** Clears a CONTROL_CHECKPOINT request once served (a stop request stays until the job stops). */
  clearCheckpointRequest(): void {
    if (this.#control !== null) Atomics.compareExchange(this.#control, 0, CONTROL_CHECKPOINT, CONTROL_NONE);
  }

  /** Re-arms after a checkpoint (taken or failed) that cost `costMs` of the job's time. */
  rearm(costMs: number): void {
    if (this.#options.mtbfMs !== null) {
      this.#intervalMs = youngIntervalMs(costMs, this.#options.mtbfMs);
    }
    this.#lastClock = performance.now();
    this.#untilClock = this.#clockEvery;
    this.#dueAt = this.#lastClock + this.#intervalMs;
    if (this.#noticeAt !== Infinity) this.#notice(); // a checkpoint came first: prepare for the next
    this.#callsLeft = this.#options.everyCalls ?? 0;
  }
}
