// The `cr` object that library code imports from the package. It forwards to the job running
// in the current thread, so helper modules need not pass `cr` around.
import { NotInJobError } from '../errors.js';
import type { RegionArray, RegionConstructor } from '../image/format.js';
import type { ImageInfo } from '../restore.js';
import type { CheckpointInfo, CheckpointOptions, JobContext } from './context.js';

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
};
