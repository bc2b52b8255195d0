// The scheduler's Prometheus metrics (docs/observability.md lists them). One registry per
// SchedulerCore, so that two schedulers in one process (tests) never share a counter. Counters
// move where the events happen (one call each in scheduler.ts and service.ts); the gauges of jobs
// and nodes by state are read from the database when scraped, so they are never out of step with
// it. No label names a job, a user or a node: their number would grow without bound.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { JobState } from './jobs.js';

/** Every state a job row can hold: each is exported, 0 included, so a rule sees it from the start. */
export const JOB_STATES: readonly JobState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
/** The states `cr-scheduler nodes` shows (SchedulerCore.nodeInfo). */
export const NODE_STATES = ['alive', 'draining', 'reconnecting', 'dead'] as const;

/**
 * Why an attempt ended without finishing its job and the job went back to the queue:
 * `failed` (the job threw and a retry was left), `node_lost` (its node's lease expired),
 * `node_reconnected` (the node came back without it), `migrated` (drained: checkpointed and
 * stopped), `unstarted` (its code or images could not be fetched).
 */
export type RestartReason = 'failed' | 'node_lost' | 'node_reconnected' | 'migrated' | 'unstarted';

/**
 * Where a checkpoint failed: `write` (the job could not write the image on its node: a full disk,
 * an I/O error), `upload` (the agent could not get the committed image stored).
 */
export type CheckpointFailure = 'write' | 'upload';

/** Seconds: a pause is milliseconds to seconds; a commit and a transfer up to many minutes. */
export const PAUSE_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
export const DURATION_BUCKETS_S = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900];

/** Where the gauges read their values at scrape time. */
export interface MetricSources {
  /** Jobs by state (states missing from the map count 0). */
  jobsByState(): Map<string, number> | Promise<Map<string, number>>;
  /** Each node's state. */
  nodeStates(): readonly { state?: string }[] | Promise<readonly { state?: string }[]>;
}

export class SchedulerMetrics {
  readonly registry = new Registry();
  readonly placements: Counter;
  readonly restarts: Counter<'reason'>;
  readonly leaseExpiries: Counter;
  readonly checkpointsCommitted: Counter;
  readonly checkpointsFailed: Counter<'stage'>;
  readonly checkpointPause: Histogram;
  readonly checkpointCommit: Histogram;
  readonly imageBytesWritten: Counter;
  readonly uploadBytes: Counter;
  readonly uploadDuration: Histogram;
  readonly downloadBytes: Counter;
  readonly downloadDuration: Histogram;
  #processMetrics = false;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    new Gauge({
      name: 'cr_jobs',
      help: 'Jobs by state, as the database holds them when scraped.',
      labelNames: ['state'],
      registers,
      async collect() {
        const counts = await sources.jobsByState();
        for (const state of new Set([...JOB_STATES, ...counts.keys()])) this.set({ state }, counts.get(state) ?? 0);
      },
    });
    new Gauge({
      name: 'cr_nodes',
      help: 'Nodes by state (alive, draining, reconnecting after a scheduler restart, dead: its lease expired).',
      labelNames: ['state'],
      registers,
      async collect() {
        const counts = new Map<string, number>(NODE_STATES.map((s) => [s, 0]));
        for (const { state = 'unknown' } of await sources.nodeStates()) counts.set(state, (counts.get(state) ?? 0) + 1);
        for (const [state, n] of counts) this.set({ state }, n);
      },
    });
    this.placements = new Counter({ name: 'cr_placements_total', help: 'Attempts started: a job placed on a node.', registers });
    this.restarts = new Counter({
      name: 'cr_job_restarts_total',
      help: 'Attempts that ended without ending their job, which went back to the queue, by reason (failed, node_lost, node_reconnected, migrated, unstarted).',
      labelNames: ['reason'],
      registers,
    });
    this.leaseExpiries = new Counter({ name: 'cr_lease_expiries_total', help: 'Node leases that expired: nodes presumed dead.', registers });
    this.checkpointsCommitted = new Counter({ name: 'cr_checkpoints_committed_total', help: 'Checkpoint images verified and stored by the scheduler.', registers });
    this.checkpointsFailed = new Counter({
      name: 'cr_checkpoints_failed_total',
      help: 'Checkpoints that failed, as agents report them, by stage: write (not written on the node), upload (committed on the node, never stored by the scheduler).',
      labelNames: ['stage'],
      registers,
    });
    this.checkpointPause = new Histogram({
      name: 'cr_checkpoint_pause_seconds',
      help: 'Time a job was paused in cr.checkpoint() for one image the scheduler stored, as its node measured it.',
      buckets: PAUSE_BUCKETS_S,
      registers,
    });
    this.checkpointCommit = new Histogram({
      name: 'cr_checkpoint_commit_seconds',
      help: 'Time from the end of the pause to the durable image on the node, for each image the scheduler stored.',
      buckets: DURATION_BUCKETS_S,
      registers,
    });
    this.imageBytesWritten = new Counter({ name: 'cr_image_bytes_written_total', help: 'Bytes of the checkpoint images the scheduler stored.', registers });
    this.uploadBytes = new Counter({ name: 'cr_image_upload_bytes_total', help: 'Bytes received by image upload streams that were accepted.', registers });
    this.uploadDuration = new Histogram({
      name: 'cr_image_upload_duration_seconds',
      help: 'Duration of one image upload stream (a whole image, or one part of a parallel upload), whatever its outcome.',
      buckets: DURATION_BUCKETS_S,
      registers,
    });
    this.downloadBytes = new Counter({ name: 'cr_image_download_bytes_total', help: 'Bytes sent by image download streams.', registers });
    this.downloadDuration = new Histogram({
      name: 'cr_image_download_duration_seconds',
      help: 'Duration of one image download stream (a whole image, or one byte range of a parallel download).',
      buckets: DURATION_BUCKETS_S,
      registers,
    });
    for (const reason of ['failed', 'node_lost', 'node_reconnected', 'migrated', 'unstarted'] satisfies RestartReason[]) this.restarts.inc({ reason }, 0);
    for (const stage of ['write', 'upload'] satisfies CheckpointFailure[]) this.checkpointsFailed.inc({ stage }, 0);
  }

  /** prom-client's process and Node.js metrics (CPU, memory, event loop lag, handles), once: only a scheduler that serves them pays for them. */
  withProcessMetrics(): this {
    if (!this.#processMetrics) collectDefaultMetrics({ register: this.registry });
    this.#processMetrics = true;
    return this;
  }

  /** An attempt's Finish was applied (jobs.ts FinishEffect): a retry or a move is a restart. */
  attemptEnded(outcome: string, effect: string): void {
    if (effect === 'retry') this.restarts.inc({ reason: 'failed' });
    else if (effect === 'moved') this.restarts.inc({ reason: outcome === 'stopped' ? 'migrated' : 'unstarted' });
  }

  /** A lease expired; `requeued` of the node's jobs went back to the queue. */
  leaseExpired(requeued: number): void {
    this.leaseExpiries.inc();
    this.restarts.inc({ reason: 'node_lost' }, requeued);
  }

  /** Checkpoints a node reported failed, at `stage`. */
  checkpointsFailedAt(stage: CheckpointFailure, count: number): void {
    if (count > 0) this.checkpointsFailed.inc({ stage }, count);
  }

  /** Times one upload stream; an accepted one counts its bytes. */
  async upload<R extends { accepted: boolean }>(bytes: number, receiving: Promise<R>): Promise<R> {
    const end = this.uploadDuration.startTimer();
    try {
      const result = await receiving;
      if (result.accepted) this.uploadBytes.inc(bytes);
      return result;
    } finally {
      end();
    }
  }

  /**
   * An image was stored (once per image, however many parts carried it), with what it cost its
   * job as the node measured it (sent in the upload's header; 0: an agent that does not send it).
   */
  stored(image: { bytes: number; pauseMs?: number; commitMs?: number }): void {
    this.checkpointsCommitted.inc();
    this.imageBytesWritten.inc(image.bytes);
    if (image.pauseMs) this.checkpointPause.observe(image.pauseMs / 1000);
    if (image.commitMs) this.checkpointCommit.observe(image.commitMs / 1000);
  }
}
