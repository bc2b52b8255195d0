// Job records and their lifecycle: queued → running → succeeded | failed | cancelled, with the
// attempt number that fences every report. Each transition is one SQLite transaction, and
// every method checks the attempt it is told about against the job's current one, so a report
// from an attempt that was superseded (its node presumed dead, then back) changes nothing.
import { backoff } from '../../src/internal.js';
import type { Db } from './db.js';
import { plural } from '../output.js';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
/** A request being served on a running job. */
export type Pending = 'checkpoint' | 'migrate' | null;

export interface JobRow {
  id: number;
  name: string;
  state: JobState;
  priority: number;
  retries: number;
  retries_used: number;
  moves: number;
  code_sha256: string;
  args_json: string;
  interval_ms: number;
  full_every: number;
  attempt: number;
  node: string | null;
  pending: Pending;
  progress: number;
  message: string;
  result_json: string | null;
  error_json: string | null;
  not_before: number;
  submitted_at: number;
  started_at: number | null;
  finished_at: number | null;
}

export interface NewJob {
  name: string;
  codeSha256: string;
  code: Buffer;
  argsJson: string;
  retries: number;
  priority: number;
  intervalMs: number;
  fullEvery: number;
}

export type Finish =
  | { outcome: 'succeeded'; resultJson: string }
  | { outcome: 'failed'; errorJson: string; retryable: boolean }
  | { outcome: 'stopped' }
  | { outcome: 'unstarted'; errorJson: string }
  | { outcome: 'cancelled' };

/** What became of a job after a finish report. */
export type FinishEffect = 'stale' | 'succeeded' | 'failed' | 'retry' | 'moved' | 'cancelled';

export const TERMINAL: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];
/** Back-off before retry n (from 0): 1 s, doubling, at most 30 s. */
export const RETRY_BASE_MS = 1000;
export const RETRY_MAX_MS = 30_000;
/** Pause before placing again a job whose attempt could not fetch its code or images. */
export const UNSTARTED_DELAY_MS = 1000;

export class Jobs {
  readonly #db: Db;
  readonly #get;
  readonly #insertEvent;

  constructor(db: Db) {
    this.#db = db;
    this.#get = db.prepare<[number], JobRow>(`SELECT * FROM jobs WHERE id = ?`);
    this.#insertEvent = db.prepare(`INSERT INTO events (job, attempt, at, kind, text) VALUES (?, ?, ?, ?, ?)`);
  }

  submit(job: NewJob, now = Date.now()): JobRow {
    return this.#db.transaction(() => {
      this.#db.prepare(`INSERT OR IGNORE INTO code (sha256, bytes) VALUES (?, ?)`).run(job.codeSha256, job.code);
      const { lastInsertRowid } = this.#db
        .prepare(
          `INSERT INTO jobs (name, state, priority, retries, code_sha256, args_json, interval_ms, full_every, submitted_at)
           VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(job.name, job.priority, job.retries, job.codeSha256, job.argsJson, job.intervalMs, job.fullEvery, now);
      const id = Number(lastInsertRowid);
      this.event(id, 0, 'event', `submitted (priority ${job.priority}, ${plural(job.retries, 'retry', 'retries')})`, now);
      return this.#get.get(id)!;
    })();
  }

  get(id: number): JobRow | undefined {
    return this.#get.get(id);
  }

  list(states: readonly string[] = []): JobRow[] {
    if (states.length === 0) return this.#db.prepare<[], JobRow>(`SELECT * FROM jobs ORDER BY id`).all();
    return this.#db.prepare<string[], JobRow>(`SELECT * FROM jobs WHERE state IN (${states.map(() => '?').join(',')}) ORDER BY id`).all(...states);
  }

  code(sha256: string): Buffer | undefined {
    return (this.#db.prepare(`SELECT bytes FROM code WHERE sha256 = ?`).get(sha256) as { bytes: Buffer } | undefined)?.bytes;
  }

  /** Queued jobs whose back-off has passed, in placement order: priority, then submission. */
  placeable(now: number, limit: number): JobRow[] {
    return this.#db
      .prepare<[number, number], JobRow>(`SELECT * FROM jobs WHERE state = 'queued' AND not_before <= ? ORDER BY priority DESC, id LIMIT ?`)
      .all(now, limit);
  }

  /** Running jobs on a node, with their current attempts. */
  runningOn(node: string): JobRow[] {
    return this.#db.prepare<[string], JobRow>(`SELECT * FROM jobs WHERE state = 'running' AND node = ? ORDER BY id`).all(node);
  }

  /** Running jobs per node. */
  runningCounts(): Map<string, number> {
    const rows = this.#db.prepare(`SELECT node, COUNT(*) AS n FROM jobs WHERE state = 'running' GROUP BY node`).all() as { node: string; n: number }[];
    return new Map(rows.map((r) => [r.node, r.n]));
  }

  /** The fencing check: is `attempt` the job's current, running attempt? */
  isCurrent(id: number, attempt: number): boolean {
    const job = this.#get.get(id);
    return job !== undefined && job.state === 'running' && job.attempt === attempt;
  }

  /** Starts the next attempt of each queued job on its node, in one transaction. */
  start(placements: readonly { job: number; node: string }[], now = Date.now()): JobRow[] {
    const update = this.#db.prepare(
      `UPDATE jobs SET state = 'running', attempt = attempt + 1, node = ?, pending = NULL, started_at = COALESCE(started_at, ?)
       WHERE id = ? AND state = 'queued'`,
    );
    const insert = this.#db.prepare(`INSERT INTO attempts (job, number, node, started_at) VALUES (?, ?, ?, ?)`);
    return this.#db.transaction(() => {
      const started: JobRow[] = [];
      for (const p of placements) {
        if (update.run(p.node, now, p.job).changes !== 1) continue;
        const job = this.#get.get(p.job)!;
        insert.run(job.id, job.attempt, p.node, now);
        this.event(job.id, job.attempt, 'event', `attempt ${job.attempt} placed on node ${p.node}`, now);
        started.push(job);
      }
      return started;
    })();
  }

  /** Progress and log lines of an attempt; false when the attempt is stale. */
  report(id: number, attempt: number, progress: number | null, message: string | null, logs: readonly string[], now = Date.now()): boolean {
    return this.#db.transaction(() => {
      if (!this.isCurrent(id, attempt)) return false;
      if (progress !== null) this.#db.prepare(`UPDATE jobs SET progress = ?, message = COALESCE(?, message) WHERE id = ?`).run(progress, message, id);
      for (const line of logs) this.event(id, attempt, 'log', line, now);
      return true;
    })();
  }

  /** Applies how an attempt ended; a stale attempt changes nothing. */
  finish(id: number, attempt: number, finish: Finish, now = Date.now()): FinishEffect {
    return this.#db.transaction((): FinishEffect => {
      const job = this.#get.get(id);
      if (job === undefined || job.state !== 'running' || job.attempt !== attempt) return 'stale';
      const end = (outcome: string): void => {
        this.#db.prepare(`UPDATE attempts SET ended_at = ?, outcome = ? WHERE job = ? AND number = ?`).run(now, outcome, id, attempt);
      };
      switch (finish.outcome) {
        case 'succeeded':
          end('succeeded');
          this.#db
            .prepare(`UPDATE jobs SET state = 'succeeded', result_json = ?, progress = 1, node = NULL, pending = NULL, finished_at = ? WHERE id = ?`)
            .run(finish.resultJson, now, id);
          this.event(id, attempt, 'event', `succeeded on node ${job.node}`, now);
          return 'succeeded';
        case 'failed': {
          end('failed');
          const message = errorMessage(finish.errorJson);
          if (finish.retryable && job.retries_used < job.retries) {
            const delay = backoff(RETRY_BASE_MS, RETRY_MAX_MS, job.retries_used);
            this.#db
              .prepare(`UPDATE jobs SET state = 'queued', node = NULL, pending = NULL, retries_used = retries_used + 1, error_json = ?, not_before = ? WHERE id = ?`)
              .run(finish.errorJson, now + delay, id);
            this.event(id, attempt, 'event', `attempt ${attempt} failed: ${message}; retry ${job.retries_used + 1} of ${job.retries} in ${delay / 1000} s`, now);
            return 'retry';
          }
          this.#db
            .prepare(`UPDATE jobs SET state = 'failed', error_json = ?, node = NULL, pending = NULL, finished_at = ? WHERE id = ?`)
            .run(finish.errorJson, now, id);
          this.event(id, attempt, 'event', `failed: ${message}${finish.retryable ? ` (after ${plural(job.retries, 'retry', 'retries')})` : ' (not retried: it would fail the same way)'}`, now);
          return 'failed';
        }
        case 'stopped':
          // Stopped after a checkpoint, as a drain asked: resume elsewhere, no retry spent.
          end('migrated');
          this.#requeue(job, now);
          this.event(id, attempt, 'event', `checkpointed and stopped on node ${job.node}: moving it`, now);
          return 'moved';
        case 'unstarted':
          // Its code or images could not be fetched: the node's or the network's fault, not the
          // job's, so no retry is spent (as when a node dies); a short pause keeps a lasting fault
          // (a scheduler that cannot read its store) from placing it again at once.
          end('unstarted');
          this.#db.prepare(`UPDATE jobs SET state = 'queued', node = NULL, pending = NULL, moves = moves + 1, not_before = ? WHERE id = ?`).run(now + UNSTARTED_DELAY_MS, id);
          this.event(id, attempt, 'event', `attempt ${attempt} could not start on node ${job.node}: ${errorMessage(finish.errorJson)}; back in the queue (no retry spent)`, now);
          return 'moved';
        case 'cancelled':
          end('cancelled');
          this.#db.prepare(`UPDATE jobs SET state = 'cancelled', node = NULL, pending = NULL, finished_at = ? WHERE id = ?`).run(now, id);
          return 'cancelled';
      }
    })();
  }

  /**
   * A node was lost (lease expired) or reconnected without these attempts: their jobs go back
   * to the queue to resume from their latest image elsewhere. No retry is spent: the job did
   * nothing wrong.
   */
  requeueLost(jobs: readonly { id: number; attempt: number }[], why: string, now = Date.now()): JobRow[] {
    return this.#db.transaction(() => {
      const moved: JobRow[] = [];
      for (const { id, attempt } of jobs) {
        const job = this.#get.get(id);
        if (job === undefined || job.state !== 'running' || job.attempt !== attempt) continue;
        this.#db.prepare(`UPDATE attempts SET ended_at = ?, outcome = 'lost' WHERE job = ? AND number = ?`).run(now, id, attempt);
        this.#requeue(job, now);
        this.event(id, attempt, 'event', `attempt ${attempt} lost: ${why}; back in the queue`, now);
        moved.push(job);
      }
      return moved;
    })();
  }

  #requeue(job: JobRow, now: number): void {
    this.#db.prepare(`UPDATE jobs SET state = 'queued', node = NULL, pending = NULL, moves = moves + 1, not_before = ? WHERE id = ?`).run(now, job.id);
  }

  /** Cancels a job that has not ended. Returns the job as it was, or the terminal job unchanged. */
  cancel(id: number, now = Date.now()): { before: JobRow; after: JobRow } | undefined {
    return this.#db.transaction(() => {
      const before = this.#get.get(id);
      if (before === undefined) return undefined;
      if (!TERMINAL.includes(before.state)) {
        if (before.state === 'running') {
          this.#db.prepare(`UPDATE attempts SET ended_at = ?, outcome = 'cancelled' WHERE job = ? AND number = ?`).run(now, id, before.attempt);
        }
        this.#db.prepare(`UPDATE jobs SET state = 'cancelled', node = NULL, pending = NULL, finished_at = ? WHERE id = ?`).run(now, id);
        this.event(id, before.attempt, 'event', 'cancelled', now);
      }
      return { before, after: this.#get.get(id)! };
    })();
  }

  setPending(id: number, pending: Pending): void {
    this.#db.prepare(`UPDATE jobs SET pending = ? WHERE id = ? AND state = 'running'`).run(pending, id);
  }

  event(id: number, attempt: number, kind: 'log' | 'event', text: string, now = Date.now()): void {
    this.#insertEvent.run(id, attempt, now, kind, text);
  }

  events(id: number, after: number, limit = 1000): { id: number; attempt: number; at: number; kind: string; text: string }[] {
    return this.#db
      .prepare(`SELECT id, attempt, at, kind, text FROM events WHERE job = ? AND id > ? ORDER BY id LIMIT ?`)
      .all(id, after, limit) as { id: number; attempt: number; at: number; kind: string; text: string }[];
  }

  /** A job's attempts, in order: where each ran, when, and how it ended (null: not yet). */
  attempts(id: number): { number: number; node: string; outcome: string | null; started_at: number; ended_at: number | null }[] {
    return this.#db.prepare(`SELECT number, node, outcome, started_at, ended_at FROM attempts WHERE job = ? ORDER BY number`).all(id) as {
      number: number;
      node: string;
      outcome: string | null;
      started_at: number;
      ended_at: number | null;
    }[];
  }
}

function errorMessage(errorJson: string): string {
  try {
    return String((JSON.parse(errorJson) as { message?: unknown }).message ?? errorJson);
  } catch {
    return errorJson;
  }
}
