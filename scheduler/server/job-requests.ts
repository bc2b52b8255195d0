// What people ask of jobs through the CLI: submit one, look at it and its images, cancel it, ask
// it for a checkpoint, remove a finished job's images.
import { createHash } from 'node:crypto';
import type { ImageInfo, JobInfo, SubmitRequest__Output as SubmitRequest } from '../proto/types.js';
import { DEFAULT_FULL_EVERY, DEFAULT_INTERVAL_MS } from '../../src/internal.js';
import { jobNameProblem } from '../names.js';
import { stateInWords } from '../output.js';
import type { CoreParts } from './core-parts.js';
import { finite, int, text } from './inputs.js';
import { TERMINAL, type JobRow, type ShownJob } from './jobs.js';
import { ownerName, type Owner } from './owners.js';
import { basesOf } from './restore-plan.js';
import { SchedulerError } from './scheduler-error.js';

const MAX_CODE_BYTES = 32 << 20;

export class JobRequests {
  readonly #core: CoreParts;

  constructor(core: CoreParts) {
    this.#core = core;
  }

  async submit(request: SubmitRequest, owner: Owner | null = null, now = Date.now()): Promise<JobInfo> {
    const { db, jobs, storage } = this.#core;
    if (storage.degraded !== null) throw new SchedulerError('RESOURCE_EXHAUSTED', `${storage.status}; free space in the scheduler's data directory and retry`);
    const code = request.code ? Buffer.from(request.code as Uint8Array) : Buffer.alloc(0);
    if (code.length === 0) throw new SchedulerError('INVALID_ARGUMENT', 'the job has no code');
    if (code.length > MAX_CODE_BYTES) throw new SchedulerError('INVALID_ARGUMENT', `the job's code is ${code.length} bytes; at most ${MAX_CODE_BYTES}`);
    const argsJson = request.argsJson || '{}';
    try {
      JSON.parse(argsJson);
    } catch {
      throw new SchedulerError('INVALID_ARGUMENT', 'args_json is not valid JSON');
    }
    const name = request.name || 'job';
    const problem = jobNameProblem(name);
    if (problem !== null) throw new SchedulerError('INVALID_ARGUMENT', problem);
    const row = await db.write(async () => {
      const submitted = await jobs.submit(
        {
          name,
          code,
          codeSha256: createHash('sha256').update(code).digest('hex'),
          argsJson,
          retries: request.retries ?? 3,
          priority: request.priority ?? 0,
          intervalMs: request.intervalMs || DEFAULT_INTERVAL_MS,
          fullEvery: request.fullEvery || DEFAULT_FULL_EVERY,
        },
        now,
      );
      if (owner !== null) await this.#core.owners.record(submitted.id, owner);
      return submitted;
    });
    await this.#core.schedule(now);
    return this.jobInfo((await jobs.get(row.id))!);
  }

  async job(id: number): Promise<JobRow> {
    const job = await this.#core.jobs.get(id);
    if (job === undefined) throw new SchedulerError('NOT_FOUND', `no job ${id}: "cr-scheduler list" shows the jobs`);
    return job;
  }

  /**
   * A job as the CLI gets it: whatever a row holds (a value written by hand, a bad disk), each
   * field has its type. `known`: its images and owner, when a list read them with the row.
   */
  async jobInfo(job: ShownJob, known?: { images: number; owner: Owner | undefined }): Promise<JobInfo> {
    return {
      id: job.id,
      name: text(job.name),
      state: text(job.state),
      priority: int(job.priority, -(2 ** 31), 2 ** 31 - 1),
      retries: int(job.retries),
      retriesUsed: int(job.retries_used),
      attempt: int(job.attempt),
      node: text(job.node),
      progress: finite(job.progress),
      message: text(job.message),
      resultJson: text(job.result_json),
      errorJson: text(job.error_json),
      submittedAt: finite(job.submitted_at),
      startedAt: finite(job.started_at),
      finishedAt: finite(job.finished_at),
      pending: text(job.pending),
      images: known ? known.images : await this.#core.images.count(job.id),
      moves: int(job.moves),
      owner: ownerName(known ? known.owner : await this.#core.owners.of(job.id)),
    };
  }

  async cancel(id: number): Promise<JobInfo> {
    await this.job(id);
    const { before, after } = (await this.#core.jobs.cancel(id))!;
    if (before.state === 'running') this.#core.leases.control(before, 'CANCEL');
    return this.jobInfo(after);
  }

  async checkpoint(id: number): Promise<JobInfo> {
    const { jobs } = this.#core;
    const job = await this.job(id);
    if (job.state !== 'running') throw new SchedulerError('FAILED_PRECONDITION', `job ${id} ${stateInWords(job.state)}: only a running job can take a checkpoint`);
    if (job.pending !== 'migrate') await jobs.setPending(id, 'checkpoint');
    this.#core.leases.control(job, 'CHECKPOINT');
    return this.jobInfo((await jobs.get(id))!);
  }

  /** A finished job's images, removed (`images JOB --delete`): its records, then its files. */
  async deleteImages(id: number): Promise<ImageInfo[]> {
    const job = await this.job(id);
    if (!TERMINAL.includes(job.state)) {
      throw new SchedulerError('FAILED_PRECONDITION', `job ${id} is ${job.state}: its images are what it resumes from; cancel it first ("cr-scheduler cancel ${id}") to remove them`);
    }
    const images = await this.listImages(id);
    const { failed } = await this.#core.images.remove(id);
    await this.#core.jobs.event(id, job.attempt, 'event', `${images.length} image${images.length === 1 ? '' : 's'} removed on request`);
    for (const failure of failed) this.#core.log(`images of job ${id}: could not remove ${failure}`);
    return images;
  }

  async listImages(id: number): Promise<ImageInfo[]> {
    await this.job(id);
    return (await this.#core.images.list(id)).map((r) => ({
      sequence: r.sequence,
      attempt: r.attempt,
      bytes: r.bytes,
      sha256: r.sha256,
      bases: basesOf(r) ?? [],
      createdAt: r.created_at,
      node: r.node,
    }));
  }
}
