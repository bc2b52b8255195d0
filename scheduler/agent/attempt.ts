// One attempt of a job on this node: fetch its code and the images to resume from, run it with
// the one-machine runner (the same `cr` as `cr-scheduler run`) in a process of its own, apart
// from the agent's credentials (job-host.ts), upload each committed image in order, report
// progress and logs, then how it ended. The scheduler's attempt number fences all of it: the
// moment the scheduler says this attempt is stale (in any reply, or by a STALE command), the
// job's process is killed and nothing more is reported.
//
// The job's store holds the job's own image key (job-key.ts), never the cluster's: what the job
// can tag, only this job's restores and the scheduler accept.
import fs from 'node:fs';
import path from 'node:path';
import { Backoff, createFileOnceSync, DEFAULT_FULL_EVERY, DEFAULT_INTERVAL_MS, type ErrorRecord, getCodec, type ImageCommitted, ImageReader, isRetryable, resolvePolicyOptions, type RunOutcome, STORE_KEY_FILE } from '../../src/internal.js';
import { jobImageKey } from '../job-key.js';
import { MAX_RESULT_BYTES, storeJobName } from '../names.js';
import { unary, type SchedulerClient } from '../proto/load.js';
import type { Assignment__Output, FinishRequest, ImageRef__Output } from '../proto/types.js';
import { fetchCode } from './code.js';
import { JobProcess, type JobIsolation } from './job-host.js';
import { giveToJob } from './run-as.js';
import type { AgentMetrics } from './metrics.js';
import { Reporter } from './reporter.js';
import { downloadImage, uploadImage } from './transfer.js';

export interface AttemptContext {
  /** The scheduler the agent is connected to now (it changes when a standby takes over). */
  client: () => SchedulerClient;
  /** The connections images travel on to it, in parallel parts. */
  lanes: () => SchedulerClient[];
  /** Aborted when the agent gives up the scheduler it is connected to now (a paused leader would hold an upload until its deadline). */
  departure: () => AbortSignal;
  node: string;
  workDir: string;
  /** The cluster's image key (the agent's; never given to a job). */
  keyFile: string;
  isolation: JobIsolation;
  log: (line: string) => void;
  /** This node's metrics (metrics.ts). */
  metrics?: AgentMetrics | null;
}

/** Images kept in an attempt's local store: enough that none is pruned before it is uploaded. */
const AGENT_KEEP_IMAGES = 8;
const RETRY_MS = 250;
const RETRY_MAX_MS = 2000;

export class Attempt {
  readonly job: number;
  readonly attempt: number;
  readonly #ctx: AttemptContext;
  readonly #assignment: Assignment__Output;
  readonly #dir: string;
  readonly #reporter: Reporter;
  #runner: JobProcess | null = null;
  #uploads: Promise<void> = Promise.resolve();
  #abandoned = false;
  #cancelled = false;
  #stopRequested = false;
  #checkpointRequested = false;
  /** Resolves when the attempt is over on this node (finished and reported, or abandoned). */
  readonly done: Promise<void>;

  constructor(ctx: AttemptContext, assignment: Assignment__Output) {
    this.#ctx = ctx;
    this.#assignment = assignment;
    this.job = assignment.job;
    this.attempt = assignment.attempt;
    this.#dir = path.join(ctx.workDir, 'jobs', `${storeJobName(this.job)}-a${this.attempt}`);
    this.#reporter = new Reporter(ctx.client, this.job, this.attempt, assignment.secret, () => this.abandon('the scheduler says this attempt is stale'));
    this.done = this.#run().catch((err: unknown) => this.#ctx.log(`job ${this.job} attempt ${this.attempt}: ${(err as Error).message}`));
  }

  get abandoned(): boolean {
    return this.#abandoned;
  }

  /** Checkpoint at the next safe point and go on. */
  checkpoint(): void {
    this.#checkpointRequested = true;
    this.#runner?.requestCheckpoint();
  }

  /** Checkpoint at the next safe point, upload it, stop (drain). */
  migrate(): void {
    this.#stopRequested = true;
    this.#runner?.requestStop();
  }

  cancel(): void {
    this.#cancelled = true;
    void this.#runner?.kill();
  }

  /** The attempt was superseded: end the job's process now, report nothing more. */
  abandon(why: string): void {
    if (this.#abandoned) return;
    this.#abandoned = true;
    this.#ctx.log(`job ${this.job} attempt ${this.attempt}: stopping it, ${why}`);
    void this.#runner?.kill();
  }

  async #run(): Promise<void> {
    const a = this.#assignment;
    const job = storeJobName(a.job);
    const storeDir = path.join(this.#dir, 'store');
    fs.rmSync(this.#dir, { recursive: true, force: true });
    // Others may pass through <work>/jobs (a job run as another user reaches its own directory), not list it.
    fs.mkdirSync(path.dirname(this.#dir), { recursive: true, mode: 0o711 });
    fs.mkdirSync(storeDir, { recursive: true, mode: 0o700 });
    let fetched = false;
    try {
      const codeFile = await this.#retrying(() => fetchCode(this.#ctx.client(), path.join(this.#ctx.workDir, 'code'), a.codeSha256));
      const key = jobImageKey(fs.readFileSync(this.#ctx.keyFile), a.job);
      await this.#fetchImages(storeDir, key);
      fetched = true;
      if (this.#abandoned) return;
      // The store's own key file: the job's process reads it as `cr-scheduler run` reads a store's.
      createFileOnceSync(path.join(storeDir, STORE_KEY_FILE), key, 0o600);
      const runAs = this.#ctx.isolation.runAs;
      if (runAs) giveToJob(this.#dir, runAs);
      const runner = new JobProcess({
        jobFile: codeFile,
        args: JSON.parse(a.argsJson || '{}') as unknown,
        job,
        storeDir,
        keyFile: null,
        keepImages: AGENT_KEEP_IMAGES,
        policy: resolvePolicyOptions({ intervalMs: a.intervalMs || DEFAULT_INTERVAL_MS, everyCalls: null, mtbfMs: null }),
        fullEvery: a.fullEvery || DEFAULT_FULL_EVERY,
        dirty: 'auto',
        // The scheduler decides about retries (and places them anywhere): one attempt here.
        retries: 0,
        retryDelayMs: 1000,
        from: null,
        fresh: false,
        // Checked against the images it resumes from: a mismatch fails the attempt, not retried.
        code: { code: a.codeSha256, files: null },
        recordFinished: false,
        level: 1,
        codec: 'auto',
        maxHeapMb: null,
        firstAttempt: a.attempt,
      }, this.#ctx.isolation, this.#dir);
      this.#runner = runner;
      runner.on((event) => {
        switch (event.type) {
          case 'started':
            this.#reporter.log(
              event.image
                ? `[cr] attempt ${a.attempt} on node ${this.#ctx.node}: resumed from image ${event.image.sequence}`
                : `[cr] attempt ${a.attempt} on node ${this.#ctx.node}: started from the beginning`,
            );
            for (const s of event.skipped) this.#reporter.log(`[cr] warning: passed over ${s.file}: ${s.error}`);
            break;
          case 'progress':
            this.#reporter.progress(event.fraction, event.message);
            break;
          case 'log':
            this.#reporter.log(event.line);
            break;
          case 'warning':
            this.#reporter.log(`[cr] warning: ${event.message}`);
            break;
          case 'checkpoint':
            this.#ctx.metrics?.checkpoint(event.info);
            this.#queueUpload(event.info);
            break;
          default:
            break;
        }
      });
      // Requests that arrived while the code and images were fetched.
      if (this.#stopRequested) runner.requestStop();
      if (this.#checkpointRequested) runner.requestCheckpoint();
      if (this.#cancelled || this.#abandoned) return;
      const running = runner.run();
      this.#ctx.log(`job ${a.job} attempt ${a.attempt}: running in process ${runner.pid ?? '(none)'}${runAs ? ` as user ${runAs.user}` : ''}`);
      const outcome = await running;
      await this.#uploads;
      await this.#reporter.flush();
      if (this.#abandoned) return;
      await this.#finish(outcome);
    } catch (err) {
      if (this.#abandoned) return;
      await this.#reporter.flush();
      const error = { name: 'Error', code: null, message: (err as Error).message, stack: (err as Error).stack ?? null };
      // Code or images could not be fetched: not the job's error, so it must not spend a retry.
      if (!fetched) await this.#finish({ status: 'failed', error, attempts: 1 }, 'UNSTARTED');
      else await this.#finish({ status: 'failed', error, attempts: 1 });
    } finally {
      this.#reporter.close();
      fs.rmSync(this.#dir, { recursive: true, force: true });
    }
  }

  /**
   * Downloads the images to restore from and verifies each (tag, manifest, every block) before
   * the job sees it. If one cannot be fetched or does not verify, the older images the scheduler
   * holds are fetched instead, as HTCondor falls back to the previous checkpoint; those that
   * verify are kept and the runner resumes from the newest of them. `key` is the job's own.
   */
  async #fetchImages(storeDir: string, key: Buffer): Promise<void> {
    const a = this.#assignment;
    const job = storeJobName(a.job);
    const codec = await getCodec();
    const fetch = async (image: ImageRef__Output): Promise<void> => {
      const file = path.join(storeDir, job, `${String(image.sequence).padStart(8, '0')}.crimg`);
      try {
        const downloadStarted = performance.now();
        await this.#retrying(() => downloadImage(this.#ctx.lanes(), a.job, image.sequence, image.sha256, file, { attempt: a.attempt, secret: a.secret }));
        this.#ctx.metrics?.transferred('download', image.bytes, performance.now() - downloadStarted);
        const reader = ImageReader.open(file, { codec, key, expect: { job, sequence: image.sequence } });
        try {
          reader.verifyStored();
        } finally {
          reader.close();
        }
      } catch (err) {
        fs.rmSync(file, { force: true });
        throw err;
      }
    };
    let failure: Error | null = null;
    for (const image of a.images) {
      try {
        await fetch(image);
      } catch (err) {
        if (this.#abandoned) throw err;
        failure = err as Error;
        this.#reporter.log(`[cr] warning: image ${image.sequence} could not be used: ${failure.message}`);
        break;
      }
    }
    if (failure === null) return;
    // Older images, oldest first (bases before the images built on them); each one that fails is left out.
    let usable = 0;
    for (const image of a.fallback) {
      try {
        await fetch(image);
        usable++;
      } catch (err) {
        if (this.#abandoned) throw err;
        this.#reporter.log(`[cr] warning: older image ${image.sequence} could not be used either: ${(err as Error).message}`);
      }
    }
    if (usable === 0) throw new Error(`no image of job ${a.job} could be fetched and verified (${failure.message})`);
    this.#reporter.log(`[cr] falling back to an older image: ${usable} of ${a.fallback.length} older image${a.fallback.length === 1 ? '' : 's'} fetched`);
  }

  #queueUpload(info: ImageCommitted): void {
    this.#uploads = this.#uploads.then(async () => {
      if (this.#abandoned) return;
      if (!fs.existsSync(info.file)) {
        this.#reporter.log(`[cr] warning: image ${info.sequence} was pruned before it could be uploaded`);
        return;
      }
      let reply;
      const uploadStarted = performance.now();
      try {
        reply = await this.#retrying(() =>
          uploadImage(this.#ctx.lanes(), { job: this.job, attempt: this.attempt, sequence: info.sequence, node: this.#ctx.node, secret: this.#assignment.secret, file: info.file, stats: { rawBytes: info.rawBytes, pauseMs: info.pauseMs, commitMs: info.commitMs } }, undefined, this.#ctx.departure()),
        );
      } catch (err) {
        // The attempt goes on; its next image is uploaded (the scheduler keeps what it has).
        this.#failedUpload();
        this.#reporter.log(`[cr] warning: image ${info.sequence} could not be uploaded: ${(err as Error).message}`);
        return;
      }
      if (reply.accepted) this.#ctx.metrics?.transferred('upload', info.bytes, performance.now() - uploadStarted);
      if (reply.stale) this.abandon(`the scheduler refused image ${info.sequence}: ${reply.reason}`);
      else if (!reply.accepted) {
        this.#failedUpload();
        this.#reporter.log(`[cr] warning: the scheduler refused image ${info.sequence}: ${reply.reason}`);
      }
    });
  }

  /** A committed image that will not reach the scheduler: counted here and reported there. */
  #failedUpload(): void {
    this.#ctx.metrics?.uploadFailures.inc();
    this.#reporter.checkpointFailed();
  }

  async #finish(outcome: RunOutcome, as?: 'UNSTARTED'): Promise<void> {
    const request: FinishRequest = { job: this.job, attempt: this.attempt, secret: this.#assignment.secret };
    if (as === 'UNSTARTED' && outcome.status === 'failed') {
      request.outcome = 'UNSTARTED';
      request.errorJson = JSON.stringify(errorJson(outcome.error));
    } else if (this.#cancelled) {
      request.outcome = 'CANCELLED';
    } else if (outcome.status === 'succeeded') {
      request.outcome = 'SUCCEEDED';
      request.resultJson = JSON.stringify(outcome.result ?? null);
      const bytes = Buffer.byteLength(request.resultJson);
      if (bytes > MAX_RESULT_BYTES) {
        // The scheduler would refuse it: the job fails with the reason instead of never ending.
        request.outcome = 'FAILED';
        request.resultJson = '';
        request.errorJson = JSON.stringify({ name: 'Error', code: 'CR_RESULT_TOO_LARGE', message: `the job's result is ${bytes} bytes of JSON; at most ${MAX_RESULT_BYTES}: return a summary and write bulk data to files` });
      }
    } else if (outcome.status === 'stopped') {
      request.outcome = 'STOPPED';
    } else {
      request.outcome = 'FAILED';
      request.errorJson = JSON.stringify(errorJson(outcome.error));
      request.retryable = isRetryable(outcome.error);
    }
    const reply = await this.#retrying(() => unary(this.#ctx.client(), 'Finish', request));
    if (reply.stale) this.#ctx.log(`job ${this.job} attempt ${this.attempt}: the scheduler had already moved on (stale attempt)`);
  }

  /** Retries a call while the scheduler cannot be reached (it restarts, the network blips). */
  async #retrying<T>(fn: () => Promise<T>): Promise<T> {
    const delays = new Backoff(RETRY_MS, RETRY_MAX_MS);
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        // 14 UNAVAILABLE, 4 DEADLINE_EXCEEDED, 1 CANCELLED: the scheduler is away, try again.
        if (this.#abandoned || (code !== 14 && code !== 4 && code !== 1)) throw err;
        await new Promise((resolve) => setTimeout(resolve, delays.next()));
      }
    }
  }
}

function errorJson(error: ErrorRecord): ErrorRecord {
  return { name: error.name, code: error.code, message: error.message, stack: error.stack };
}
