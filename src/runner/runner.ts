// The one-machine runner: runs a job in a piscina worker thread, restarts it from its latest
// image when it dies (an exception, process.exit, out of memory, the worker killed), up to a
// retry limit, and turns a stop request into "checkpoint at the next safe point, then stop".
import { MessageChannel } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { Piscina } from 'piscina';
import { Backoff } from '../backoff.js';
import type { CapturePreference } from '../capture/cow.js';
import type { DirtyPreference } from '../capture/dirty.js';
import { isImageFault, toErrorRecord, type ErrorRecord } from '../errors.js';
import type { PolicyOptions } from '../policy.js';
import { CONTROL_CHECKPOINT, CONTROL_NONE, CONTROL_STOP } from '../policy.js';
import type { JobIdentity } from '../image/format.js';
import type { FinishedRecord } from '../store/finished.js';
import { LocalStore } from '../store/local-store.js';
import { checkResume, jobIdentity, type CodeIdentity } from './identity.js';
import type { CodecPreference, JobEvent, JobTask, JobTaskResult } from './task.js';

export interface RunOptions {
  /** Path of the job module. */
  jobFile: string;
  /** The job's second argument. */
  args: unknown;
  /** The job's name in the store. */
  job: string;
  storeDir: string;
  keyFile: string | null;
  /** Images kept per job. */
  keepImages: number;
  policy: PolicyOptions;
  /** Every fullEvery-th image is full, the others incremental (1: always full). */
  fullEvery: number;
  /** How changed blocks are found: dirty tracking where available ('auto'), or block hashes. */
  dirty: DirtyPreference;
  /** How regions are captured: copy-on-write where it pays ('auto', default), always where possible ('cow'), or staged ('stage'). */
  capture?: CapturePreference;
  /** Restarts after the first attempt fails. */
  retries: number;
  /** Delay before the first restart, ms; doubles each time, up to 30 s. */
  retryDelayMs: number;
  /** Restore the first attempt from this image file. */
  from: string | null;
  /** Delete the job's images and finished record, and start over. */
  fresh: boolean;
  /** The job's code, recorded in its images with its args (docs/operations.md, "Job identity"). */
  code: CodeIdentity;
  /** Resume from images (or a finished run) made by other code; other args are never resumed. Default false. */
  allowCodeChange?: boolean;
  /**
   * When the job succeeds, record it as finished (its result) and prune its images to the last
   * one; a later run of the same computation then returns that result. Default true; a cluster
   * agent, whose store lasts one attempt, passes false.
   */
  recordFinished?: boolean;
  level: number;
  codec: CodecPreference;
  /** V8 heap limit of the job's thread, MiB; null: Node's default. */
  maxHeapMb: number | null;
  /**
   * The number `cr.attempt` has in the first attempt of this run (default 1). A cluster agent
   * runs one attempt of many per run and passes the cluster's attempt number.
   */
  firstAttempt?: number;
}

export type RunEvent =
  | JobEvent
  | { type: 'discarded'; images: number; finished: boolean }
  | { type: 'attempt-failed'; attempt: number; error: ErrorRecord; retryInMs: number | null }
  | { type: 'stop-requested' };

export type RunOutcome =
  /** `earlier`: the job had finished before, and this is its recorded result (nothing was computed). */
  | { status: 'succeeded'; result: unknown; attempts: number; earlier: FinishedRecord | null }
  | { status: 'stopped'; imageId: string | null; attempts: number }
  | { status: 'failed'; error: ErrorRecord; attempts: number };

/** Errors that come back the same on every restart: retrying them would only waste time. */
const FATAL_CODES = new Set(['CR_REGION_MISMATCH', 'CR_STATE_UNCAPTURABLE', 'CR_NO_IMAGE', 'CR_STORE_LOCKED', 'CR_NOT_IN_JOB', 'CR_KEY_INVALID', 'CR_FILE_MISMATCH', 'CR_IDENTITY_MISMATCH', 'CR_JOB_FILE']);
const MAX_RETRY_DELAY_MS = 30_000;

/** Whether restarting after this error could help (false: it would fail the same way again). */
export function isRetryable(error: ErrorRecord): boolean {
  return error.code === null || !FATAL_CODES.has(error.code);
}
const WORKER_FILE = new URL('./worker.js', import.meta.url).href;

export class JobRunner {
  readonly #options: RunOptions;
  readonly #control = new Int32Array(new SharedArrayBuffer(4));
  readonly #listeners: ((event: RunEvent) => void)[] = [];
  #pool: Piscina | null = null;
  #stopping = false;
  readonly #warned = new Set<string>();

  constructor(options: RunOptions) {
    this.#options = options;
  }

  on(listener: (event: RunEvent) => void): this {
    this.#listeners.push(listener);
    return this;
  }

  /** Checkpoint at the next safe point, then stop (what SIGTERM and SIGINT do). */
  requestStop(): void {
    this.#stopping = true;
    Atomics.store(this.#control, 0, CONTROL_STOP);
    this.#emit({ type: 'stop-requested' });
  }

  /** Checkpoint at the next safe point and go on. */
  requestCheckpoint(): void {
    Atomics.compareExchange(this.#control, 0, CONTROL_NONE, CONTROL_CHECKPOINT);
  }

  /** Ends the job's thread now, without a checkpoint. */
  async kill(): Promise<void> {
    this.#stopping = true;
    await this.#pool?.destroy();
  }

  async run(): Promise<RunOutcome> {
    const o = this.#options;
    const identity = jobIdentity(o.code, o.args);
    const allowCodeChange = o.allowCodeChange ?? false;
    const store = LocalStore.open({ dir: o.storeDir, keyFile: o.keyFile, keepImages: o.keepImages, warn: (message) => this.#emit({ type: 'warning', message }) });
    const unlock = store.lock(o.job);
    try {
      store.removeStaleTemps(o.job);
      if (o.fresh) this.#discard(store);
      const finished = o.fresh || o.from !== null ? null : store.readFinished(o.job);
      if (finished !== null) {
        try {
          // The same computation finished already: its result, without computing. Changed code
          // that is allowed runs again, from the image kept at the end.
          if (checkResume(finished.identity, identity, allowCodeChange, `the finished run of "${o.job}"`) === null) {
            return { status: 'succeeded', result: finished.result, attempts: 0, earlier: finished };
          }
        } catch (err) {
          return { status: 'failed', error: toErrorRecord(err), attempts: 0 };
        }
      }
      const skipSequences: number[] = [];
      // A first delay above the ceiling is kept as given: a delay never shrinks.
      const delays = new Backoff(o.retryDelayMs, Math.max(MAX_RETRY_DELAY_MS, o.retryDelayMs));
      for (let attempt = 1; ; attempt++) {
        const first = attempt === 1;
        const outcome = await this.#attempt({
          jobUrl: pathToFileURL(path.resolve(o.jobFile)).href,
          args: o.args,
          job: o.job,
          storeDir: o.storeDir,
          keyFile: o.keyFile,
          keepImages: o.keepImages,
          from: first ? o.from : null,
          skipSequences,
          identity,
          allowCodeChange,
          attempt: attempt - 1 + (o.firstAttempt ?? 1),
          policy: o.policy,
          fullEvery: o.fullEvery,
          dirty: o.dirty,
          capture: o.capture ?? 'auto',
          level: o.level,
          codec: o.codec,
        });
        if (outcome.status === 'succeeded') {
          if (o.recordFinished ?? true) await this.#recordFinished(store, identity, outcome.result, attempt);
          return { status: 'succeeded', result: outcome.result, attempts: attempt, earlier: null };
        }
        if (outcome.status === 'stopped') return { status: 'stopped', imageId: outcome.imageId, attempts: attempt };
        // Refused before anything ran: not an attempt that failed.
        if (outcome.error.code === 'CR_IDENTITY_MISMATCH') return { status: 'failed', error: outcome.error, attempts: attempt - 1 };
        // An image named to resume from that cannot be restored ends the run: going on from
        // another image, or from the beginning, is not what was asked for.
        if (first && o.from !== null && isImageFault(outcome.error.code)) {
          const message = `the image given to resume from cannot be restored (${outcome.error.message}); the job's other images were not tried`;
          return { status: 'failed', error: { ...outcome.error, message }, attempts: attempt };
        }
        if (outcome.restoringFrom !== null) skipSequences.push(outcome.restoringFrom);
        const fatal = outcome.error.code !== null && FATAL_CODES.has(outcome.error.code);
        const retry = !fatal && !this.#stopping && attempt <= o.retries;
        const delay = retry ? delays.next() : null;
        this.#emit({ type: 'attempt-failed', attempt, error: outcome.error, retryInMs: delay });
        if (!retry) return { status: 'failed', error: outcome.error, attempts: attempt };
        await new Promise((resolve) => setTimeout(resolve, delay!));
        if (this.#stopping) return { status: 'failed', error: outcome.error, attempts: attempt };
      }
    } finally {
      unlock();
    }
  }

  #discard(store: LocalStore): void {
    const entries = store.list(this.#options.job);
    for (const entry of entries) store.removeImage(entry);
    const finished = store.removeFinished(this.#options.job);
    this.#emit({ type: 'discarded', images: entries.length, finished });
  }

  /**
   * The record first (the work is done once it is durable), then the images but the last (kept
   * for --from and for a rerun with changed code). A crash between leaves extra images, no harm.
   */
  async #recordFinished(store: LocalStore, identity: JobIdentity, value: unknown, attempts: number): Promise<void> {
    const job = this.#options.job;
    let result: unknown;
    try {
      // As the CLI prints it: JSON, a BigInt as its decimal text.
      result = JSON.parse(JSON.stringify(value ?? null, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? 'null');
    } catch (err) {
      this.#emit({ type: 'warning', message: `the result of "${job}" cannot be recorded as JSON (${(err as Error).message}): a rerun will compute it again` });
      return;
    }
    try {
      const image = store.list(job).at(-1)?.sequence ?? null;
      store.recordFinished({ job, identity, finishedAt: new Date().toISOString(), attempts, result, image });
      await store.prune(job, 1);
    } catch (err) {
      this.#emit({ type: 'warning', message: `could not record that "${job}" finished (${(err as Error).message}): a rerun will resume from its images` });
    }
  }

  async #attempt(task: Omit<JobTask, 'control' | 'port'>): Promise<JobTaskResult> {
    // A new pool per attempt: a restarted job must not inherit the module cache or globals of
    // the attempt that died.
    const pool = new Piscina({
      filename: WORKER_FILE,
      minThreads: 1,
      maxThreads: 1,
      idleTimeout: 60_000,
      atomics: 'disabled',
      resourceLimits: this.#options.maxHeapMb ? { maxOldGenerationSizeMb: this.#options.maxHeapMb } : undefined,
    });
    this.#pool = pool;
    const { port1, port2 } = new MessageChannel();
    port1.on('message', (event: JobEvent) => this.#emit(event));
    try {
      return (await pool.run({ ...task, control: this.#control.buffer, port: port2 }, { transferList: [port2] })) as JobTaskResult;
    } catch (err) {
      // The worker itself died: process.exit, out of memory, terminated.
      return { status: 'failed', error: toErrorRecord(err), restoringFrom: null };
    } finally {
      // Deliver events the worker posted just before it ended.
      await new Promise((resolve) => setImmediate(resolve));
      port1.close();
      this.#pool = null;
      await pool.destroy().catch(() => undefined);
      // A checkpoint request is served by the attempt it was made for; a stop request stays.
      Atomics.compareExchange(this.#control, 0, CONTROL_CHECKPOINT, CONTROL_NONE);
    }
  }

  #emit(event: RunEvent): void {
    // The store's threads (this one, the job's, its image writer's) each see a planted entry: it is named once.
    if (event.type === 'warning') {
      if (this.#warned.has(event.message)) return;
      this.#warned.add(event.message);
    }
    for (const listener of this.#listeners) listener(event);
  }
}
