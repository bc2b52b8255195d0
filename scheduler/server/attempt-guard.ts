// The one place that decides whether a caller may act for an attempt (report, finish, upload or
// download its images). Each attempt gets a secret of 256 random bits when it is placed, sent
// only in the assignment to its node; the scheduler keeps its SHA-256. A call for an attempt
// must come from that node (its certificate, or its bound token on loopback) AND carry the
// secret: job and attempt numbers are small integers anyone can guess. A refusal changes
// nothing, is logged, and is recorded as an event of the job naming the caller.
import crypto from 'node:crypto';
import { AuthError, type Caller } from './auth.js';
import { batches, type Db } from './db.js';
import type { Jobs } from './jobs.js';

/** Random bytes of an attempt's secret. */
export const ATTEMPT_SECRET_BYTES = 32;

function digest(secret: string): Buffer {
  return crypto.createHash('sha256').update(secret).digest();
}

export class AttemptGuard {
  readonly #db: Db;
  readonly #jobs: Jobs;
  readonly #log: (line: string) => void;

  constructor(db: Db, jobs: Jobs, log: (line: string) => void) {
    this.#db = db;
    this.#jobs = jobs;
    this.#log = log;
  }

  /** A new secret for an attempt placed on `node` (inside the transaction that starts it); the returned secret is the only copy. */
  async issue(job: number, attempt: number, node: string): Promise<string> {
    return (await this.issueAll([{ job, attempt, node }]))[0]!;
  }

  /** `issue` for many attempts at once (a burst of placements): their secrets, in order. */
  async issueAll(attempts: readonly { job: number; attempt: number; node: string }[]): Promise<string[]> {
    const secrets = attempts.map(() => crypto.randomBytes(ATTEMPT_SECRET_BYTES).toString('base64url'));
    const rows = attempts.map((a, i) => ({ ...a, secret_sha256: digest(secrets[i]!) }));
    await this.#db.write(async () => {
      for (const batch of batches(rows)) {
        await this.#db.q
          .insertInto('attempt_secrets')
          .values(batch)
          .onConflict((oc) => oc.columns(['job', 'attempt']).doUpdateSet((eb) => ({ node: eb.ref('excluded.node'), secret_sha256: eb.ref('excluded.secret_sha256') })))
          .execute();
      }
    });
    return secrets;
  }

  /**
   * Throws AuthError(PERMISSION_DENIED) unless `caller` is the node attempt `attempt` of `job`
   * was given to and `secret` is that attempt's. Whether the attempt is still the job's current
   * one is the fencing check's (stale replies), decided after this.
   */
  async check(caller: Caller, method: string, job: number, attempt: number, secret: string): Promise<void> {
    const row = await this.#db.q.selectFrom('attempt_secrets').select(['node', 'secret_sha256 as secret']).where('job', '=', job).where('attempt', '=', attempt).executeTakeFirst();
    let why: string | null = null;
    if (caller.role !== 'agent' || caller.node === null) why = 'only the node running an attempt may act for it';
    else if (row === undefined) why = 'no such attempt';
    else if (row.node !== caller.node) why = `the attempt was given to another node`;
    else if (secret.length === 0 || !crypto.timingSafeEqual(digest(secret), row.secret)) why = "the attempt's secret is missing or wrong";
    if (why === null) return;
    const err = new AuthError('PERMISSION_DENIED', `${caller.via} may not ${method} for attempt ${attempt} of job ${job}: ${why}`);
    this.#log(`refused ${method}: ${err.message}`);
    if ((await this.#jobs.get(job)) !== undefined) await this.#jobs.event(job, attempt, 'event', `refused ${method} from ${caller.via}: ${why}`).catch(() => undefined);
    throw err;
  }
}
