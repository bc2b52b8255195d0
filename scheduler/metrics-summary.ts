// What `cr-scheduler report` says about a metrics file (metrics-file.ts), per job: its
// checkpoints and what they cost, the work its failures lost, and the checkpoint interval Young's
// formula suggests from the two. One function decides every figure; the command only prints.
import { youngIntervalMs } from '../src/internal.js';
import type { MetricsLine } from './metrics-file.js';

export interface JobSummary {
  job: string;
  /** Attempts that started computing (start, resume and restart lines). */
  attempts: number;
  /** Time the job's attempts ran: from each start to its end, failure, or last line. */
  runMs: number;
  checkpoints: number;
  /** Checkpoints that failed on the machine (not written: a full disk...); the job went on. */
  checkpointsFailed: number;
  full: number;
  incremental: number;
  /** Bytes of the image files written. */
  bytes: number;
  /** The job's time paused in cr.checkpoint(), summed, and per checkpoint (null: none). */
  pauseMs: number;
  meanPauseMs: number | null;
  /** From the end of a pause to the durable image, per checkpoint (in the background). */
  meanCommitMs: number | null;
  /** Between the safe points of successive checkpoints of one attempt. */
  meanIntervalMs: number | null;
  /** pauseMs / runMs (null: no run time). */
  overhead: number | null;
  /** Restarts after a failure, and the work they lost: computed after the image each restart resumed from. */
  failures: number;
  lostMs: number;
  /** From each failure to the restart (restart delay, restore). */
  downMs: number;
  /** runMs / failures; null when no failure was observed (then no MTBF can be estimated). */
  mtbfMs: number | null;
  /**
   * Young's interval from the mean pause (what a checkpoint costs the job: the commit runs in the
   * background) and the observed MTBF, as `run --mtbf` computes it (policy.ts); null without a
   * failure or a checkpoint.
   */
  youngIntervalMs: number | null;
  /** How the last run ended (null: it was still running, or was killed, when the file was read). */
  outcome: string | null;
}

/** The summaries of every job in the lines, in the order each first appears. */
export function summarize(lines: readonly MetricsLine[]): JobSummary[] {
  const jobs = new Map<string, MetricsLine[]>();
  for (const line of lines) {
    const list = jobs.get(line.job) ?? [];
    list.push(line);
    jobs.set(line.job, list);
  }
  return [...jobs.entries()].map(([job, list]) => summarizeJob(job, list));
}

function summarizeJob(job: string, lines: readonly MetricsLine[]): JobSummary {
  let runMs = 0;
  let open: number | null = null;
  let lastAt = -Infinity;
  let attempts = 0;
  let full = 0;
  let checkpointsFailed = 0;
  let pauseMs = 0;
  let commitMs = 0;
  let bytes = 0;
  let failures = 0;
  let lostMs = 0;
  let downMs = 0;
  let outcome: string | null = null;
  const intervals: number[] = [];
  let previousSafePoint: number | null = null;
  const checkpoints = lines.filter((l) => l.event === 'checkpoint').length;
  for (const line of lines) {
    const at = Date.parse(line.at);
    switch (line.event) {
      case 'start':
      case 'resume':
        // A start after a start without an end: the earlier run is counted to its last line.
        if (open !== null) runMs += Math.max(0, lastAt - open);
        open = at;
        attempts++;
        previousSafePoint = null;
        outcome = null;
        break;
      case 'restart':
        if (open !== null) runMs += Math.max(0, Date.parse(line.failed_at) - open);
        open = at;
        attempts++;
        failures++;
        lostMs += line.lost_ms;
        downMs += line.down_ms;
        previousSafePoint = null;
        outcome = null;
        break;
      case 'checkpoint': {
        const safePoint = Date.parse(line.safe_point_at);
        if (previousSafePoint !== null) intervals.push(safePoint - previousSafePoint);
        previousSafePoint = safePoint;
        if (line.kind === 'full') full++;
        pauseMs += line.pause_ms;
        commitMs += line.commit_ms;
        bytes += line.bytes;
        break;
      }
      case 'checkpoint-failed':
        checkpointsFailed++;
        break;
      case 'end':
        if (open !== null) runMs += Math.max(0, at - open);
        open = null;
        outcome = line.outcome;
        break;
    }
    lastAt = Math.max(lastAt, at);
  }
  if (open !== null) runMs += Math.max(0, lastAt - open);
  const meanPauseMs = checkpoints > 0 ? pauseMs / checkpoints : null;
  const mtbfMs = failures > 0 ? runMs / failures : null;
  return {
    job,
    attempts,
    runMs,
    checkpoints,
    checkpointsFailed,
    full,
    incremental: checkpoints - full,
    bytes,
    pauseMs,
    meanPauseMs,
    meanCommitMs: checkpoints > 0 ? commitMs / checkpoints : null,
    meanIntervalMs: intervals.length > 0 ? intervals.reduce((a, b) => a + b, 0) / intervals.length : null,
    overhead: runMs > 0 ? pauseMs / runMs : null,
    failures,
    lostMs,
    downMs,
    mtbfMs,
    youngIntervalMs: meanPauseMs === null || mtbfMs === null ? null : youngIntervalMs(meanPauseMs, mtbfMs),
    outcome,
  };
}
