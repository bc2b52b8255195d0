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
import * as grpc from '@grpc/grpc-js';
import { Backoff, createFileOnceSync, DEFAULT_FULL_EVERY, DEFAULT_INTERVAL_MS, type ErrorRecord, getCodec, type ImageCommitted, imageFileName, ImageReader, isRetryable, resolvePolicyOptions, type RunOutcome, STORE_KEY_FILE } from '../../src/internal.js';
import { digestFile, digestKind } from '../images/digest.js';
import { objectName, SharedStoreError, type SharedStore } from '../images/store.js';
import { jobImageKey } from '../job-key.js';
import { MAX_RESULT_BYTES, storeJobName } from '../names.js';
import { unary, type SchedulerClient } from '../proto/load.js';
import type { Assignment__Output, FinishRequest, ImageRef__Output } from '../proto/types.js';
import { fetchCode } from './code.js';
import type { LocalLevel } from './local-level.js';
import { JobProcess, type JobIsolation } from './job-host.js';
import { giveToJob } from './run-as.js';
import type { AgentMetrics } from './metrics.js';
import { Reporter } from './reporter.js';
import { downloadImage, recordImage, uploadImage } from './transfer.js';

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
  /** The shared image store the scheduler named (Registered.image_store), as it opens; null: images go over gRPC. */
  shared: Promise<SharedStore | null>;
  /** True when the scheduler named a store (which may have failed to open on this node). */
  sharedNamed: boolean;
  /** This node's copies of its jobs' latest images. */
  local: LocalLevel;
  /** This node's metrics (metrics.ts). */
  metrics?: AgentMetrics | null;
}

/** An image of the plan is missing or damaged where it is kept: the scheduler falls back to the image before it. */
class UnusableImage extends Error {
  constructor(
    readonly sequence: number,
    message: string,
  ) {
    super(message);
  }
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
  /** Set when the job's reader did not restore the planned image: the attempt ends unstarted, naming it. */
  #notRestored: UnusableImage | null = null;
  /** The shared image store, once #run has it open. */
  #shared: SharedStore | null = null;
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
      this.#shared = await this.#ctx.shared;
      if (this.#ctx.sharedNamed && this.#shared === null) throw new Error(`the scheduler keeps images in a shared store that this node cannot open (see the agent's log)`);
      const codeFile = await this.#retrying(() => fetchCode(this.#ctx.client(), path.join(this.#ctx.workDir, 'code'), a.codeSha256));
      const key = jobImageKey(fs.readFileSync(this.#ctx.keyFile), a.job);
      await this.#fetchImages(storeDir);
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
      const planned = a.images.at(-1)?.sequence ?? null;
      runner.on((event) => {
        switch (event.type) {
          case 'started':
            // The reader found the planned image damaged and passed over it: the job must not go
            // on from another image than the scheduler's, so the attempt ends, naming it (the one fallback).
            if (planned !== null && event.image?.sequence !== planned) {
              this.#notRestored = new UnusableImage(planned, `the job's reader passed over it: ${event.skipped.map((s) => s.error).join('; ') || 'not restored'}`);
              void runner.kill();
              break;
            }
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
          case 'checkpoint-failed':
            // Its warning comes as a 'warning' event too: this only counts it.
            this.#ctx.metrics?.writeFailures.inc();
            this.#reporter.checkpointFailed('write');
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
      // No image at all verified (the planned one is full, or its bases failed too): the same case.
      if (planned !== null && outcome.status === 'failed' && outcome.error.code === 'CR_NO_IMAGE') this.#notRestored ??= new UnusableImage(planned, `the job's reader passed over it: ${outcome.error.message}`);
      if (this.#notRestored !== null) throw this.#notRestored;
      await this.#reporter.flush();
      if (this.#abandoned) return;
      await this.#finish(outcome);
    } catch (err) {
      if (this.#abandoned) return;
      if (err instanceof UnusableImage) this.#reporter.log(`[cr] warning: image ${err.sequence} could not be used: ${err.message}`);
      await this.#reporter.flush();
      const error = { name: 'Error', code: null, message: (err as Error).message, stack: (err as Error).stack ?? null };
      // Code or images could not be fetched: not the job's error, so it must not spend a retry.
      if (!fetched || err === this.#notRestored) await this.#finish({ status: 'failed', error, attempts: 1 }, 'UNSTARTED', err instanceof UnusableImage ? [err.sequence] : []);
      else await this.#finish({ status: 'failed', error, attempts: 1 });
    } finally {
      this.#reporter.close();
      fs.rmSync(this.#dir, { recursive: true, force: true });
    }
  }

  /**
   * Fetches the images the scheduler planned (the image to restore and its bases), each from the
   * nearest level that holds it: this node's copy, else the shared store, else the scheduler.
   * Each arrives whole with the sha256 the scheduler recorded, or is not used; the job's reader
   * checks the blocks when it restores. An image that is missing or damaged where it is kept
   * ends the attempt unstarted, naming it (UnusableImage): the scheduler forgets it and plans
   * the next attempt from the image before it. That is the one fallback.
   */
  async #fetchImages(storeDir: string): Promise<void> {
    const a = this.#assignment;
    const job = storeJobName(a.job);
    for (const image of a.images) {
      const file = path.join(storeDir, job, imageFileName(image.sequence));
      const from = await this.#fetchImage(image, file);
      this.#reporter.log(`[cr] image ${image.sequence}: ${from}`);
    }
  }

  /** One image into `file`; says where it came from. */
  async #fetchImage(image: ImageRef__Output, file: string): Promise<string> {
    const a = this.#assignment;
    if (await this.#ctx.local.take(a.job, image, file)) return "this node's copy (no download)";
    const damaged = (got: string): UnusableImage => new UnusableImage(image.sequence, `image ${image.sequence} of job ${a.job} arrived damaged twice (digest ${got}, recorded ${image.sha256})`);
    const shared = this.#shared;
    // A damaged transfer is tried once more; damaged again, it is the stored image that is.
    for (let tries = 1; ; tries++) {
      if (shared !== null) {
        const name = objectName(a.job, image.sequence, image.attempt);
        let got: { sha256: string };
        try {
          got = await shared.fetch(name, file, digestKind(image.sha256) ?? 'pieces');
        } catch (err) {
          if (err instanceof SharedStoreError && err.code === 'CR_IMAGE_STORE_MISSING') throw new UnusableImage(image.sequence, err.message);
          throw err;
        }
        if (got.sha256 === image.sha256) return `read from the image store ${shared.location}`;
        fs.rmSync(file, { force: true });
        if (tries === 2) throw damaged(got.sha256);
      } else {
        try {
          const started = performance.now();
          await this.#retrying(() => downloadImage(this.#ctx.lanes(), a.job, image.sequence, image.sha256, file, { attempt: a.attempt, secret: a.secret }));
          this.#ctx.metrics?.transferred('download', image.bytes, performance.now() - started);
          return 'downloaded from the scheduler';
        } catch (err) {
          const code = (err as { code?: unknown }).code;
          if (code === grpc.status.NOT_FOUND) throw new UnusableImage(image.sequence, (err as Error).message);
          // A failed call or disk (a code) is not the image's fault; a sha256 mismatch (none) twice is.
          if (code !== undefined) throw err;
          if (tries === 2) throw new UnusableImage(image.sequence, (err as Error).message);
        }
      }
    }
  }

  #queueUpload(info: ImageCommitted): void {
    this.#uploads = this.#uploads.then(async () => {
      if (this.#abandoned || this.#notRestored !== null) return;
      const pruned = (): boolean => {
        if (fs.existsSync(info.file)) return false;
        this.#reporter.log(`[cr] warning: image ${info.sequence} was pruned before it could be uploaded`);
        return true;
      };
      if (pruned()) return;
      const request = { job: this.job, attempt: this.attempt, sequence: info.sequence, node: this.#ctx.node, secret: this.#assignment.secret };
      const shared = this.#shared;
      let reply;
      let sha256: string | null = null;
      const uploadStarted = performance.now();
      try {
        const stats = { rawBytes: info.rawBytes, pauseMs: info.pauseMs, commitMs: info.commitMs };
        if (shared !== null) {
          // Written to the shared store, then recorded by the scheduler: the bytes never pass through it.
          const stored = await shared.put(objectName(this.job, info.sequence, this.attempt), info.file);
          sha256 = stored.sha256;
          reply = await this.#retrying(() => recordImage(this.#ctx.client(), { ...request, bytes: stored.bytes, sha256: stored.sha256, stats }));
        } else {
          reply = await this.#retrying(() => uploadImage(this.#ctx.lanes(), { ...request, file: info.file, stats }));
        }
      } catch (err) {
        // Retried while the scheduler was away, the job's newer images pruned it meanwhile: they
        // replace it, nothing failed.
        if (pruned()) return;
        // The attempt goes on; its next image is uploaded (the scheduler keeps what it has).
        this.#failedUpload();
        this.#reporter.log(`[cr] warning: image ${info.sequence} could not be ${shared ? `stored in ${shared.location}` : 'uploaded'}: ${(err as Error).message}`);
        return;
      }
      if (reply.accepted) {
        this.#ctx.metrics?.transferred('upload', info.bytes, performance.now() - uploadStarted);
        await this.#keepLocally(info.file, info.sequence, sha256);
      }
      if (reply.stale) this.abandon(`the scheduler refused image ${info.sequence}: ${reply.reason}`);
      else if (!reply.accepted) {
        this.#failedUpload();
        this.#reporter.log(`[cr] warning: the scheduler refused image ${info.sequence}: ${reply.reason}`);
      }
    });
  }

  /**
   * The image the scheduler accepted becomes this node's copy of the job's latest (with the
   * bases its tagged manifest names). A copy that cannot be made only costs a download later.
   */
  async #keepLocally(file: string, sequence: number, sha256: string | null): Promise<void> {
    try {
      const key = jobImageKey(fs.readFileSync(this.#ctx.keyFile), this.job);
      const reader = ImageReader.open(file, { codec: await getCodec(), key, expect: { job: storeJobName(this.job), sequence } });
      const bases = reader.manifest.bases;
      reader.close();
      await this.#ctx.local.keep(this.job, sequence, sha256 ?? (await digestFile(file, 'sha256')), file, bases);
    } catch (err) {
      this.#ctx.log(`job ${this.job}: no local copy of image ${sequence}: ${(err as Error).message}`);
    }
  }

  /** A committed image that will not reach the scheduler: counted here and reported there. */
  #failedUpload(): void {
    this.#ctx.metrics?.uploadFailures.inc();
    this.#reporter.checkpointFailed('upload');
  }


  async #finish(outcome: RunOutcome, as?: 'UNSTARTED', unusable: number[] = []): Promise<void> {
    const request: FinishRequest = { job: this.job, attempt: this.attempt, secret: this.#assignment.secret };
    // A job that ended is never restored: its local copies go.
    if (as === undefined && outcome.status !== 'stopped') this.#ctx.local.forget(this.job);
    if (as === 'UNSTARTED' && outcome.status === 'failed') {
      request.outcome = 'UNSTARTED';
      request.unusableImages = unusable;
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
