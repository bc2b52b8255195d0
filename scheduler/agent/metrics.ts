// An agent's own Prometheus metrics (docs/observability.md): what this node sees of its jobs'
// checkpoints and transfers, which the scheduler sees only as reports and streams. Served by
// `agent --metrics HOST:PORT` (commands/agent.ts); the agent feeds them whether or not they are served.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DURATION_BUCKETS_S, PAUSE_BUCKETS_S } from '../server/metrics.js';

export class AgentMetrics {
  readonly registry: Registry;
  readonly checkpoints: Counter;
  readonly checkpointPause: Histogram;
  readonly checkpointCommit: Histogram;
  readonly uploadFailures: Counter;
  readonly writeFailures: Counter;
  readonly uploadBytes: Counter;
  readonly uploadDuration: Histogram;
  readonly downloadBytes: Counter;
  readonly downloadDuration: Histogram;
  readonly reconnects: Counter;

  /**
   * `running`: the attempts this node runs now, read at scrape time. `processMetrics`: add
   * prom-client's process metrics (false where the process's registry already has them).
   */
  constructor(running: () => number, options: { registry?: Registry; processMetrics?: boolean } = {}) {
    this.registry = options.registry ?? new Registry();
    const registers = [this.registry];
    new Gauge({
      name: 'cr_agent_attempts_running',
      help: 'Attempts of jobs this agent runs now.',
      registers,
      collect() {
        this.set(running());
      },
    });
    this.checkpoints = new Counter({ name: 'cr_agent_checkpoints_total', help: 'Checkpoint images committed by the jobs on this node.', registers });
    this.checkpointPause = new Histogram({ name: 'cr_agent_checkpoint_pause_seconds', help: 'Time a job on this node was paused in cr.checkpoint() for one image.', buckets: PAUSE_BUCKETS_S, registers });
    this.checkpointCommit = new Histogram({ name: 'cr_agent_checkpoint_commit_seconds', help: 'Time from the end of the pause to the durable image on this node.', buckets: DURATION_BUCKETS_S, registers });
    this.uploadFailures = new Counter({ name: 'cr_agent_checkpoint_upload_failures_total', help: 'Committed images this node gave up uploading to the scheduler (or that it refused).', registers });
    this.writeFailures = new Counter({ name: 'cr_agent_checkpoint_write_failures_total', help: 'Checkpoints the jobs on this node could not write (the disk full, an I/O error...): the job went on from its previous image.', registers });
    this.uploadBytes = new Counter({ name: 'cr_agent_upload_bytes_total', help: 'Bytes of images uploaded to the scheduler and accepted.', registers });
    this.uploadDuration = new Histogram({ name: 'cr_agent_upload_duration_seconds', help: 'Duration of one image upload (all its parts, retries included).', buckets: DURATION_BUCKETS_S, registers });
    this.downloadBytes = new Counter({ name: 'cr_agent_download_bytes_total', help: 'Bytes of images downloaded to restore from.', registers });
    this.downloadDuration = new Histogram({ name: 'cr_agent_download_duration_seconds', help: 'Duration of one image download (all its parts, retries included).', buckets: DURATION_BUCKETS_S, registers });
    this.reconnects = new Counter({ name: 'cr_agent_reconnects_total', help: 'Times this agent registered with the scheduler again after its session broke.', registers });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** A job on this node committed an image. */
  checkpoint(figures: { pauseMs: number; commitMs: number }): void {
    this.checkpoints.inc();
    this.checkpointPause.observe(Math.max(0, figures.pauseMs) / 1000);
    this.checkpointCommit.observe(Math.max(0, figures.commitMs) / 1000);
  }

  /** An image moved whole (all its parts, retries included) in `ms`. */
  transferred(direction: 'upload' | 'download', bytes: number, ms: number): void {
    (direction === 'upload' ? this.uploadBytes : this.downloadBytes).inc(bytes);
    (direction === 'upload' ? this.uploadDuration : this.downloadDuration).observe(ms / 1000);
  }
}
