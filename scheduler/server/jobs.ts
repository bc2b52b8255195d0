// Job records and their lifecycle: queued → running → succeeded | failed | cancelled, with the
// attempt number that fences every report. Each transition is one transaction, and
// every method checks the attempt it is told about against the job's current one, so a report
// from an attempt that was superseded (its node presumed dead, then back) changes nothing.
import { backoff } from '../../src/internal.js';
import { batches, type Db } from './db.js';
import type { JobRow, JobState, Pending } from './schema.js';
import { plural } from '../output.js';

export type { JobRow, JobState, Pending };

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

/** The columns a job's description (JobInfo) shows, and so all a list reads of each job. */
const SHOWN = ['jobs.id', 'jobs.name', 'jobs.state', 'jobs.priority', 'jobs.retries', 'jobs.retries_used', 'jobs.attempt', 'jobs.node', 'jobs.progress', 'jobs.message', 'jobs.result_json', 'jobs.error_json', 'jobs.submitted_at', 'jobs.started_at', 'jobs.finished_at', 'jobs.pending', 'jobs.moves'] as const;
type Unqualified<T> = T extends `jobs.${infer C}` ? C : never;
export type ShownJob = Pick<JobRow, Unqualified<(typeof SHOWN)[number]> & keyof JobRow>;

/** A job as a list shows it: its row, its owner (the token it was submitted with) and how many images it has. */
export interface ListedJob {
  row: ShownJob;
  owner: { token: string; label: string } | undefined;
  images: number;
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

  constructor(db: Db) {
    this.#db = db;
  }

  async submit(job: NewJob, now = Date.now()): Promise<JobRow> {
    return this.#db.write(async () => {
      await this.#db.q.insertInto('code').values({ sha256: job.codeSha256, bytes: job.code }).onConflict((oc) => oc.column('sha256').doNothing()).execute();
      const { id } = await this.#db.q
        .insertInto('jobs')
        .values({
          name: job.name,
          state: 'queued',
          priority: job.priority,
          retries: job.retries,
          code_sha256: job.codeSha256,
          args_json: job.argsJson,
          interval_ms: job.intervalMs,
          full_every: job.fullEvery,
          submitted_at: now,
          node: null,
          pending: null,
          result_json: null,
          error_json: null,
          started_at: null,
          finished_at: null,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await this.event(id, 0, 'event', `submitted (priority ${job.priority}, ${plural(job.retries, 'retry', 'retries')})`, now);
      return (await this.get(id))!;
    });
  }

  get(id: number): Promise<JobRow | undefined> {
    return this.#db.q.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  list(states: readonly string[] = []): Promise<JobRow[]> {
    let q = this.#db.q.selectFrom('jobs').selectAll();
    if (states.length > 0) q = q.where('state', 'in', states as JobState[]);
    return q.orderBy('id').execute();
  }

  /**
   * The newest `limit` jobs in `states` (all states when empty; every job when `limit` is 0),
   * owned by `token` (everyone's when null), oldest first, each with its owner and its count of
   * images; `more` when older ones matched too. One query, whatever the number of jobs: a list
   * of a database's history does not ask again per job.
   */
  async listed(states: readonly string[], token: string | null, limit: number): Promise<{ jobs: ListedJob[]; more: boolean }> {
    // One owner's jobs: a CROSS JOIN, which SQLite (without statistics) takes as "jobs first",
    // newest down by their key or by state, stopping at the limit; joined the other way it read
    // every job of the owner through the token's index and sorted them all (0.7 s for 100 000).
    // PostgreSQL plans it as any join, from its statistics.
    const from = token === null ? this.#db.q.selectFrom('jobs').leftJoin('job_owners', 'job_owners.job', 'jobs.id') : this.#db.q.selectFrom('jobs').crossJoin('job_owners').whereRef('job_owners.job', '=', 'jobs.id').where('job_owners.token', '=', token);
    let q = from
      .select(SHOWN)
      .select(['job_owners.token as owner_token', 'job_owners.label as owner_label'])
      .select((eb) => eb.selectFrom('images').select(eb.fn.countAll<number>().as('n')).whereRef('images.job', '=', 'jobs.id').as('image_count'));
    if (states.length > 0) q = q.where('jobs.state', 'in', states as JobState[]);
    q = q.orderBy('jobs.id', 'desc');
    if (limit > 0) q = q.limit(limit + 1);
    const rows = await q.execute();
    const more = limit > 0 && rows.length > limit;
    // The row is passed on with its three extra columns: a rest pattern (`...row`) copied each
    // row through V8's slow path, a third of a 1000-job list's time.
    const jobs = (more ? rows.slice(0, limit) : rows).reverse().map((row) => ({
      row,
      owner: row.owner_token === null ? undefined : { token: row.owner_token, label: row.owner_label ?? '' },
      images: Number(row.image_count ?? 0),
    }));
    return { jobs, more };
  }

  async code(sha256: string): Promise<Buffer | undefined> {
    return (await this.#db.q.selectFrom('code').select('bytes').where('sha256', '=', sha256).executeTakeFirst())?.bytes;
  }

  /** Queued jobs whose back-off has passed, in placement order: priority, then submission. */
  placeable(now: number, limit: number): Promise<JobRow[]> {
    return this.#db.q.selectFrom('jobs').selectAll().where('state', '=', 'queued').where('not_before', '<=', now).orderBy('priority', 'desc').orderBy('id').limit(limit).execute();
  }

  /** Running jobs on a node, with their current attempts. */
  runningOn(node: string): Promise<JobRow[]> {
    return this.#db.q.selectFrom('jobs').selectAll().where('state', '=', 'running').where('node', '=', node).orderBy('id').execute();
  }

  /** How many jobs are in each state (the metrics' gauge); with `token`, of that owner's jobs only. */
  async countByState(token: string | null = null): Promise<Map<string, number>> {
    let q = this.#db.q.selectFrom('jobs').select(['jobs.state', (eb) => eb.fn.countAll<number>().as('n')]);
    if (token !== null) q = q.innerJoin('job_owners', 'job_owners.job', 'jobs.id').where('job_owners.token', '=', token);
    const rows = await q.groupBy('jobs.state').execute();
    return new Map(rows.map((r) => [r.state, Number(r.n)]));
  }

  /** Running jobs per node. */
  async runningCounts(): Promise<Map<string, number>> {
    const rows = await this.#db.q.selectFrom('jobs').select(['node', (eb) => eb.fn.countAll<number>().as('n')]).where('state', '=', 'running').groupBy('node').execute();
    return new Map(rows.map((r) => [r.node!, Number(r.n)]));
  }

  /** The fencing check: is `attempt` the job's current, running attempt? */
  async isCurrent(id: number, attempt: number): Promise<boolean> {
    const job = await this.get(id);
    return job !== undefined && job.state === 'running' && job.attempt === attempt;
  }

  /** Starts the next attempt of each queued job on its node, in one transaction. */
  async start(placements: readonly { job: number; node: string }[], now = Date.now()): Promise<JobRow[]> {
    return this.#db.write(async () => {
      // A statement per node and per BATCH_ROWS jobs, not several per job: a burst of placements
      // is a few round trips to the database, not tens of thousands.
      const byNode = new Map<string, number[]>();
      for (const p of placements) {
        const ids = byNode.get(p.node);
        if (ids) ids.push(p.job);
        else byNode.set(p.node, [p.job]);
      }
      const rows = new Map<number, JobRow>();
      for (const [node, ids] of byNode) {
        for (const batch of batches(ids)) {
          const updated = await this.#db.q
            .updateTable('jobs')
            .set((eb) => ({ state: 'running', attempt: eb('attempt', '+', 1), node, pending: null, started_at: eb.fn.coalesce('started_at', eb.val(now)) }))
            .where('id', 'in', batch)
            .where('state', '=', 'queued')
            .returningAll()
            .execute();
          for (const row of updated) rows.set(row.id, row);
        }
      }
      // In placement order; a job no longer queued is left out.
      const started = placements.flatMap((p) => rows.get(p.job) ?? []);
      for (const batch of batches(started)) {
        await this.#db.q.insertInto('attempts').values(batch.map((job) => ({ job: job.id, number: job.attempt, node: job.node!, started_at: now, ended_at: null, outcome: null }))).execute();
        await this.#db.q.insertInto('events').values(batch.map((job) => ({ job: job.id, attempt: job.attempt, at: now, kind: 'event', text: `attempt ${job.attempt} placed on node ${job.node}` }))).execute();
      }
      return started;
    });
  }

  /** Progress and log lines of an attempt; false when the attempt is stale. */
  async report(id: number, attempt: number, progress: number | null, message: string | null, logs: readonly string[], now = Date.now()): Promise<boolean> {
    return this.#db.write(async () => {
      if (!(await this.isCurrent(id, attempt))) return false;
      if (progress !== null) {
        await this.#db.q
          .updateTable('jobs')
          .set((eb) => ({ progress, message: eb.fn.coalesce(eb.val(message), 'message') }))
          .where('id', '=', id)
          .execute();
      }
      for (const line of logs) await this.event(id, attempt, 'log', line, now);
      return true;
    });
  }

  async #end(id: number, attempt: number, outcome: string, now: number): Promise<void> {
    await this.#db.q.updateTable('attempts').set({ ended_at: now, outcome }).where('job', '=', id).where('number', '=', attempt).execute();
  }

  /** Applies how an attempt ended; a stale attempt changes nothing. */
  async finish(id: number, attempt: number, finish: Finish, now = Date.now()): Promise<FinishEffect> {
    return this.#db.write(async (): Promise<FinishEffect> => {
      const job = await this.get(id);
      if (job === undefined || job.state !== 'running' || job.attempt !== attempt) return 'stale';
      const jobs = () => this.#db.q.updateTable('jobs').where('id', '=', id);
      switch (finish.outcome) {
        case 'succeeded':
          await this.#end(id, attempt, 'succeeded', now);
          await jobs().set({ state: 'succeeded', result_json: finish.resultJson, progress: 1, node: null, pending: null, finished_at: now }).execute();
          await this.event(id, attempt, 'event', `succeeded on node ${job.node}`, now);
          return 'succeeded';
        case 'failed': {
          await this.#end(id, attempt, 'failed', now);
          const message = errorMessage(finish.errorJson);
          if (finish.retryable && job.retries_used < job.retries) {
            const delay = backoff(RETRY_BASE_MS, RETRY_MAX_MS, job.retries_used);
            await jobs()
              .set((eb) => ({ state: 'queued', node: null, pending: null, retries_used: eb('retries_used', '+', 1), error_json: finish.errorJson, not_before: now + delay }))
              .execute();
            await this.event(id, attempt, 'event', `attempt ${attempt} failed: ${message}; retry ${job.retries_used + 1} of ${job.retries} in ${delay / 1000} s`, now);
            return 'retry';
          }
          await jobs().set({ state: 'failed', error_json: finish.errorJson, node: null, pending: null, finished_at: now }).execute();
          await this.event(id, attempt, 'event', `failed: ${message}${finish.retryable ? ` (after ${plural(job.retries, 'retry', 'retries')})` : ' (not retried: it would fail the same way)'}`, now);
          return 'failed';
        }
        case 'stopped':
          // Stopped after a checkpoint, as a drain asked: resume elsewhere, no retry spent.
          await this.#end(id, attempt, 'migrated', now);
          await this.#requeue(job, now);
          await this.event(id, attempt, 'event', `checkpointed and stopped on node ${job.node}: moving it`, now);
          return 'moved';
        case 'unstarted':
          // Its code or images could not be fetched: the node's or the network's fault, not the
          // job's, so no retry is spent (as when a node dies); a short pause keeps a lasting fault
          // (a scheduler that cannot read its store) from placing it again at once.
          await this.#end(id, attempt, 'unstarted', now);
          await jobs()
            .set((eb) => ({ state: 'queued', node: null, pending: null, moves: eb('moves', '+', 1), not_before: now + UNSTARTED_DELAY_MS }))
            .execute();
          await this.event(id, attempt, 'event', `attempt ${attempt} could not start on node ${job.node}: ${errorMessage(finish.errorJson)}; back in the queue (no retry spent)`, now);
          return 'moved';
        case 'cancelled':
          await this.#end(id, attempt, 'cancelled', now);
          await jobs().set({ state: 'cancelled', node: null, pending: null, finished_at: now }).execute();
          return 'cancelled';
      }
    });
  }

  /**
   * A node was lost (lease expired) or reconnected without these attempts: their jobs go back
   * to the queue to resume from their latest image elsewhere. No retry is spent: the job did
   * nothing wrong.
   */
  async requeueLost(jobs: readonly { id: number; attempt: number }[], why: string, now = Date.now()): Promise<JobRow[]> {
    return this.#db.write(async () => {
      const moved: JobRow[] = [];
      for (const { id, attempt } of jobs) {
        const job = await this.get(id);
        if (job === undefined || job.state !== 'running' || job.attempt !== attempt) continue;
        await this.#end(id, attempt, 'lost', now);
        await this.#requeue(job, now);
        await this.event(id, attempt, 'event', `attempt ${attempt} lost: ${why}; back in the queue`, now);
        moved.push(job);
      }
      return moved;
    });
  }

  async #requeue(job: JobRow, now: number): Promise<void> {
    await this.#db.q
      .updateTable('jobs')
      .set((eb) => ({ state: 'queued', node: null, pending: null, moves: eb('moves', '+', 1), not_before: now }))
      .where('id', '=', job.id)
      .execute();
  }

  /** Cancels a job that has not ended. Returns the job as it was, or the terminal job unchanged. */
  async cancel(id: number, now = Date.now()): Promise<{ before: JobRow; after: JobRow } | undefined> {
    return this.#db.write(async () => {
      const before = await this.get(id);
      if (before === undefined) return undefined;
      if (!TERMINAL.includes(before.state)) {
        if (before.state === 'running') await this.#end(id, before.attempt, 'cancelled', now);
        await this.#db.q.updateTable('jobs').set({ state: 'cancelled', node: null, pending: null, finished_at: now }).where('id', '=', id).execute();
        await this.event(id, before.attempt, 'event', 'cancelled', now);
      }
      return { before, after: (await this.get(id))! };
    });
  }

  async setPending(id: number, pending: Pending): Promise<void> {
    await this.#db.write(() => this.#db.q.updateTable('jobs').set({ pending }).where('id', '=', id).where('state', '=', 'running').execute());
  }

  async event(id: number, attempt: number, kind: 'log' | 'event', text: string, now = Date.now()): Promise<void> {
    await this.#db.write(() => this.#db.q.insertInto('events').values({ job: id, attempt, at: now, kind, text }).execute());
  }

  events(id: number, after: number, limit = 1000): Promise<{ id: number; attempt: number; at: number; kind: string; text: string }[]> {
    return this.#db.q.selectFrom('events').select(['id', 'attempt', 'at', 'kind', 'text']).where('job', '=', id).where('id', '>', after).orderBy('id').limit(limit).execute();
  }

  /** A job's attempts, in order: where each ran, when, and how it ended (null: not yet). */
  attempts(id: number): Promise<{ number: number; node: string; outcome: string | null; started_at: number; ended_at: number | null }[]> {
    return this.#db.q.selectFrom('attempts').select(['number', 'node', 'outcome', 'started_at', 'ended_at']).where('job', '=', id).orderBy('number').execute();
  }
}

function errorMessage(errorJson: string): string {
  try {
    return String((JSON.parse(errorJson) as { message?: unknown }).message ?? errorJson);
  } catch {
    return errorJson;
  }
}
