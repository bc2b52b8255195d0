// What a running attempt's agent tells the scheduler: its progress and logs (report), how it
// ended (finish, with the one fallback when its images could not be used), its images (upload,
// or their record in the shared store), and what it fetches (its code, an image's file).
import type { FinishRequest__Output as FinishRequest, ReportRequest__Output as ReportRequest } from '../proto/types.js';
import { cutLogLine } from '../names.js';
import type { CoreParts } from './core-parts.js';
import type { UploadHeader, UploadResult } from './images.js';
import { basesOf } from './restore-plan.js';
import type { Finish } from './jobs.js';
import { keptError, resultProblem } from './inputs.js';
import { SchedulerError } from './scheduler-error.js';

export class AttemptCalls {
  readonly #core: CoreParts;

  constructor(core: CoreParts) {
    this.#core = core;
  }

  async code(sha256: string): Promise<Buffer> {
    const code = await this.#core.jobs.code(sha256);
    if (code === undefined) throw new SchedulerError('NOT_FOUND', `no job code with sha256 ${sha256}`);
    return code;
  }

  report(request: Omit<ReportRequest, 'secret'>, now = Date.now()): Promise<boolean> {
    const { jobs, metrics } = this.#core;
    const progress = request.progress !== undefined && request.progress >= 0 ? request.progress : null;
    metrics.checkpointsFailedAt('upload', request.checkpointsFailed ?? 0);
    metrics.checkpointsFailedAt('write', request.checkpointWritesFailed ?? 0);
    return jobs.report(request.job ?? 0, request.attempt ?? 0, progress, request.message || null, (request.logs ?? []).map(cutLogLine), now);
  }

  async finish(request: Omit<FinishRequest, 'secret' | 'unusableImages'> & { unusableImages?: number[] }, now = Date.now()): Promise<boolean> {
    const { images, jobs } = this.#core;
    let finish: Finish;
    switch (request.outcome) {
      case 'SUCCEEDED': {
        const resultJson = request.resultJson || 'null';
        const problem = resultProblem(resultJson);
        if (problem !== null) {
          // Refused and changes nothing but the job's record of the refusal, as every refusal.
          const job = request.job ?? 0;
          this.#core.log(`refused Finish of job ${job} attempt ${request.attempt ?? 0}: ${problem}`);
          if ((await jobs.get(job)) !== undefined) await jobs.event(job, request.attempt ?? 0, 'event', `refused Finish: ${problem}`, now);
          throw new SchedulerError('INVALID_ARGUMENT', problem);
        }
        finish = { outcome: 'succeeded', resultJson };
        break;
      }
      case 'FAILED':
        finish = { outcome: 'failed', errorJson: keptError(request.errorJson || '{}'), retryable: request.retryable === true };
        break;
      case 'STOPPED':
        finish = { outcome: 'stopped' };
        break;
      case 'CANCELLED':
        finish = { outcome: 'cancelled' };
        break;
      case 'UNSTARTED':
        finish = { outcome: 'unstarted', errorJson: keptError(request.errorJson || '{}') };
        break;
      default:
        throw new SchedulerError('INVALID_ARGUMENT', `unknown outcome ${String(request.outcome)}`);
    }
    const job = request.job ?? 0;
    const unusable = request.outcome === 'UNSTARTED' ? (request.unusableImages ?? []) : [];
    // The one fallback: the images the attempt found missing or damaged are forgotten (records,
    // then objects), so the next plan is the newest image left that it can restore.
    if (unusable.length > 0 && (await jobs.isCurrent(job, request.attempt ?? 0))) {
      const { removed } = await images.remove(job, unusable);
      if (removed.length > 0) {
        const numbers = removed.map((r) => r.sequence).join(', ');
        await jobs.event(job, request.attempt ?? 0, 'event', `image${removed.length === 1 ? '' : 's'} ${numbers} could not be used (missing or damaged where stored): forgotten, falling back to an older image`, now);
        this.#core.log(`job ${job}: image${removed.length === 1 ? '' : 's'} ${numbers} missing or damaged in the store, forgotten`);
      }
    }
    const effect = await jobs.finish(job, request.attempt ?? 0, finish, now);
    this.#core.metrics.attemptEnded(finish.outcome, effect);
    if (effect !== 'stale') await this.#core.schedule();
    return effect !== 'stale';
  }

  /** One stream of an upload (the whole image, or one part of a parallel upload). */
  async upload(header: UploadHeader, parts: AsyncIterable<{ chunk?: Buffer; sha256?: string }>): Promise<UploadResult> {
    const { images, jobs, metrics } = this.#core;
    // Once per image, however many parts carried it.
    const stored = async (): Promise<void> => {
      try {
        const job = await jobs.get(header.job);
        if (job?.pending === 'checkpoint' && job.attempt === header.attempt) await jobs.setPending(job.id, null);
        const how = (header.parts ?? 0) > 1 ? ` in ${header.parts} parts` : '';
        metrics.stored(header);
        await jobs.event(header.job, header.attempt, 'event', `image ${header.sequence} stored (${header.bytes} bytes${how}, from node ${header.node})`);
        const row = (await images.list(header.job)).find((r) => r.sequence === header.sequence);
        await this.#core.imageStats.record(header.job, header.sequence, header.attempt, row !== undefined && (basesOf(row)?.length ?? 0) > 0, header);
      } catch (err) {
        // The image is recorded; only its event is lost.
        if (!this.#core.storage.noticed(err, 'recording an image\'s event')) throw err;
      }
    };
    const isCurrent = (): Promise<boolean> => jobs.isCurrent(header.job, header.attempt);
    if (header.storedSha256) return images.record({ ...header, storedSha256: header.storedSha256 }, isCurrent, stored);
    if (images.shared) return { accepted: false, stale: false, reason: `this scheduler keeps images in the shared image store ${images.shared.location}: write the image there and record it` };
    return metrics.upload((header.parts ?? 0) > 1 ? (header.length ?? 0) : header.bytes, images.receive(header, parts, isCurrent, stored));
  }

  async imageFile(job: number, sequence: number): Promise<string> {
    const { images } = this.#core;
    if (images.shared) throw new SchedulerError('FAILED_PRECONDITION', `images are in the shared image store ${images.shared.location}: agents read them there`);
    if (!(await images.list(job)).some((r) => r.sequence === sequence)) throw new SchedulerError('NOT_FOUND', `job ${job} has no image ${sequence}`);
    return images.file(job, sequence);
  }
}
