// The `cr` object that library code imports from the package. It forwards to the job running
// in the current thread, so helper modules need not pass `cr` around.
import { NotInJobError } from '../errors.js';
import type { RegionArray, RegionConstructor } from '../image/format.js';
import type { ImageInfo } from '../restore.js';
import type { CheckpointInfo, CheckpointOptions, JobContext } from './context.js';
import type { CrFile, FileMode } from '../determinism/files.js';
import type { ProtectedMemory } from '../determinism/protect.js';
import type { Rng, Seed } from '../determinism/rng.js';

/** The job API: what the default export of a job file receives as its first argument. */
export interface Cr {
  /** True when this attempt was restored from an image. */
  readonly restored: boolean;
  /** This attempt's number, from 1. */
  readonly attempt: number;
  /** The image this attempt was restored from, or null. */
  readonly image: ImageInfo | null;
  /** Registers a structured value (updated in place by the job); returns the restored value after a restart. */
  state<T>(name: string, initial: T): T;
  /** A typed array over native memory, restored after a restart. */
  region<C extends RegionConstructor>(name: string, Ctor: C, length: number): InstanceType<C>;
  /** Frees a region now. */
  free(nameOrArray: string | RegionArray): void;
  /** A safe point: takes a checkpoint when one is due; resolves to its info, or null. */
  checkpoint(options?: CheckpointOptions): Promise<CheckpointInfo | null>;
  /** Reports progress, a fraction from 0 to 1. */
  progress(fraction: number, message?: string): void;
  /** Writes a line to the job's log. */
  log(...args: unknown[]): void;
  /**
   * A double in [0, 1), like `Math.random()`, from the job's default stream (xoshiro128**): seeded
   * from the OS's randomness on a fresh start (`cr.rng().seed` tells the seed), and captured at
   * every checkpoint, so a restarted job draws exactly the numbers an uninterrupted run would.
   */
  random(): number;
  /**
   * A seeded random stream (xoshiro128**, seeded through splitmix64) with `random()`, `uint32()`,
   * `int(n)` and `fill(array)`. `seed`: a safe integer or a bigint, taken modulo 2^64. A stream is
   * identified by `name` when given, else by its seed: calling `cr.rng(seed)` again (in this attempt
   * or after a restart) returns that stream, continued where it was. Its state is captured at
   * every checkpoint. No arguments: the default stream behind `cr.random()`.
   * Throws TypeError when `seed` is not an integer or `name` is not a non-empty string.
   */
  rng(seed?: Seed, name?: string): Rng;
  /**
   * Compute time in milliseconds summed over the attempts that led to this moment: the time
   * captured in the image this attempt resumed from plus the time this attempt has run (work lost
   * after the last image is not counted). Use it for time budgets and rates.
   */
  elapsed(): number;
  /** The wall clock, `Date.now()`: for log lines only; it is not captured and differs after a restart. */
  now(): number;
  /**
   * Opens a file whose position follows the job's images. Mode 'w' (create or truncate) and 'a'
   * (append) open an output file: its length is made durable and recorded at each checkpoint,
   * and after a restart it is truncated back to the length the image recorded, so what the job
   * wrote after that image is not written twice. Mode 'r' (the default) opens an input file whose
   * read position is recorded, and a restarted job reads on from there. Throws TypeError for a
   * bad path or mode, or a path already open; `FileMismatchError` (CR_FILE_MISMATCH) on restart
   * when the file is shorter than the image recorded.
   */
  open(path: string, mode?: FileMode): CrFile;
  /**
   * Registers memory the job already owns — an ArrayBuffer, a typed array, a DataView, or a
   * `WebAssembly.Memory` — to be captured at every checkpoint. After a restart its contents are
   * restored in place when it is protected again (a WebAssembly memory is first grown to its
   * checkpointed size); it returns `memory`. Throws TypeError for other values, shared memory,
   * or a name already used; `RegionMismatchError` when a restart protects memory of another type or size.
   */
  protect<M extends ProtectedMemory>(name: string, memory: M): M;
  /**
   * Starts a team of `n` worker threads (1 to 256), each running the default export of
   * `workerFile` (a path from the current directory, or a URL such as
   * `new URL('./member.mjs', import.meta.url)`) as `(memberCr, args)`, and resolves with their
   * results by rank. Each member has its own `state`, `region`, the team's `shared` buffers, and
   * a collective `checkpoint()` that is also a barrier: all members checkpoint at the same safe
   * point into one image of the job (one section per member state and region). After a restart
   * each member gets its own part back by rank. A member that fails or dies ends the attempt, so
   * the whole team restarts from the last image. Throws RangeError for a bad `n`, TypeError for a
   * bad `workerFile` or a second team at once; `cr.checkpoint()` of the job itself is refused
   * while its team runs.
   */
  team(n: number, workerFile: string | URL, args?: unknown): Promise<unknown[]>;
  /**
   * A typed array over the SharedArrayBuffer `name`, the same memory in the job and in every
   * member of its team (where `memberCr.shared(name, Ctor, length)` returns it). Captured once per
   * image, while every member waits at the safe point; restored after a restart. Asking again
   * with another type or length throws TypeError.
   */
  shared<C extends RegionConstructor>(name: string, Ctor: C, length: number): InstanceType<C>;
}

let current: JobContext | null = null;

/** Internal: the runner's worker sets the job of this thread. */
export function setCurrentJob(job: JobContext | null): void {
  current = job;
}

function job(what: string): JobContext {
  if (current === null) throw new NotInJobError(what);
  return current;
}

export const cr: Cr = {
  get restored() {
    return job('restored').restored;
  },
  get attempt() {
    return job('attempt').attempt;
  },
  get image() {
    return job('image').image;
  },
  state: (name, initial) => job('state').state(name, initial),
  region: (name, Ctor, length) => job('region').region(name, Ctor, length),
  free: (nameOrArray) => job('free').free(nameOrArray),
  checkpoint: (options) => job('checkpoint').checkpoint(options),
  progress: (fraction, message) => job('progress').progress(fraction, message),
  log: (...args) => job('log').log(...args),
  random: () => job('random').random(),
  rng: (seed, name) => job('rng').rng(seed, name),
  elapsed: () => job('elapsed').elapsed(),
  now: () => job('now').now(),
  open: (path, mode) => job('open').open(path, mode),
  protect: (name, memory) => job('protect').protect(name, memory),
  team: (n, workerFile, args) => job('team').team(n, workerFile, args),
  shared: (name, Ctor, length) => job('shared').shared(name, Ctor, length),
};
