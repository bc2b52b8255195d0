// The one-machine runner: runs a job in a piscina worker thread, restarts it from its latest
// image when it dies (an exception, process.exit, out of memory, the worker killed), up to a
// retry limit, and turns a stop request into "checkpoint at the next safe point, then stop".
import { MessageChannel } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { Piscina } from 'piscina';
import type { CapturePreference } from '../capture/cow.js';
import type { DirtyPreference } from '../capture/dirty.js';
import { toErrorRecord, type ErrorRecord } from '../errors.js';
import type { PolicyOptions } from '../policy.js';
import { CONTROL_CHECKPOINT, CONTROL_NONE, CONTROL_STOP } from '../policy.js';
import { LocalStore } from '../store/local-store.js';
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
  /** Delete the job's images and start over. */
  fresh: boolean;
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
  | { type: 'discarded'; images: number }
  | { type: 'attempt-failed'; attempt: number; error: ErrorRecord; retryInMs: number | null }
  | { type: 'stop-requested' };

export type RunOutcome =
  | { status: 'succeeded'; result: unknown; attempts: number }
  | { status: 'stopped'; imageId: string | null; attempts: number }
  | { status: 'failed'; error: ErrorRecord; attempts: number };

/** Errors that come back the same on every restart: retrying them would only waste time. */
const FATAL_CODES = new Set(['CR_REGION_MISMATCH', 'CR_STATE_UNCAPTURABLE', 'CR_NO_IMAGE', 'CR_STORE_LOCKED', 'CR_NOT_IN_JOB', 'CR_KEY_INVALID', 'CR_FILE_MISMATCH', 'CR_JOB_FILE']);
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
    const store = LocalStore.open({ dir: o.storeDir, keyFile: o.keyFile, keepImages: o.keepImages });
    const unlock = store.lock(o.job);
    try {
      store.removeStaleTemps(o.job);
      if (o.fresh) this.#discard(store);
      const skipSequences: number[] = [];
      let delay = o.retryDelayMs;
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
          attempt: attempt - 1 + (o.firstAttempt ?? 1),
          policy: o.policy,
          fullEvery: o.fullEvery,
          dirty: o.dirty,
          capture: o.capture ?? 'auto',
          level: o.level,
          codec: o.codec,
        });
        if (outcome.status === 'succeeded') return { status: 'succeeded', result: outcome.result, attempts: attempt };
        if (outcome.status === 'stopped') return { status: 'stopped', imageId: outcome.imageId, attempts: attempt };
        if (outcome.restoringFrom !== null) skipSequences.push(outcome.restoringFrom);
        const fatal = outcome.error.code !== null && FATAL_CODES.has(outcome.error.code);
        const retry = !fatal && !this.#stopping && attempt <= o.retries;
        this.#emit({ type: 'attempt-failed', attempt, error: outcome.error, retryInMs: retry ? delay : null });
        if (!retry) return { status: 'failed', error: outcome.error, attempts: attempt };
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(MAX_RETRY_DELAY_MS, delay * 2);
        if (this.#stopping) return { status: 'failed', error: outcome.error, attempts: attempt };
      }
    } finally {
      unlock();
    }
  }

  #discard(store: LocalStore): void {
    const entries = store.list(this.#options.job);
    for (const entry of entries) store.removeImage(entry);
    this.#emit({ type: 'discarded', images: entries.length });
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
    for (const listener of this.#listeners) listener(event);
  }
}
