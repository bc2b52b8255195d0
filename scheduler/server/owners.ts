// Who owns a job: the token it was submitted with. The one place that decides whether a user
// may act on a job (status, logs, result, images, cancel, checkpoint): its owner and admins
// may, nobody else. `list --all` shows everyone's jobs read-only, without what their code
// produced (results, errors, messages). A refusal changes nothing, is logged, and is recorded
// as an event of the job naming the caller, which its owner sees in `logs`.
import { AuthError, type Caller } from './auth.js';
import type { Db } from './db.js';
import type { Jobs } from './jobs.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS job_owners (
  job INTEGER PRIMARY KEY,
  token TEXT NOT NULL,
  label TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS job_owners_token ON job_owners (token);`;

export interface Owner {
  token: string;
  label: string;
}

/** How an owner is shown: the token's label, else its id. */
export function ownerName(owner: Owner | undefined): string {
  if (owner === undefined) return '';
  return owner.label || `token ${owner.token}`;
}

export class Owners {
  readonly #db: Db;
  readonly #jobs: Jobs;
  readonly #log: (line: string) => void;
  readonly #get;

  constructor(db: Db, jobs: Jobs, log: (line: string) => void) {
    this.#db = db;
    this.#jobs = jobs;
    this.#log = log;
    db.exec(SCHEMA);
    this.#get = db.prepare<[number], Owner>(`SELECT token, label FROM job_owners WHERE job = ?`);
  }

  record(job: number, owner: Owner): void {
    this.#db.prepare(`INSERT OR REPLACE INTO job_owners (job, token, label) VALUES (?, ?, ?)`).run(job, owner.token, owner.label);
  }

  of(job: number): Owner | undefined {
    return this.#get.get(job);
  }

  /** Whether `caller` may act on `job` (no event: for filtering lists). */
  owns(caller: Caller, job: number): boolean {
    if (caller.role === 'admin') return true;
    return caller.role === 'user' && caller.token !== null && this.#get.get(job)?.token === caller.token;
  }

  /**
   * Throws AuthError(PERMISSION_DENIED) unless `caller` may `action` job `job`. A job that does
   * not exist passes: the caller's own lookup says NOT_FOUND.
   */
  check(caller: Caller, action: string, job: number): void {
    const row = this.#jobs.get(job);
    if (row === undefined || this.owns(caller, job)) return;
    const err = new AuthError('PERMISSION_DENIED', `job ${job} belongs to ${ownerName(this.of(job)) || 'an admin'}: ${caller.via} may not ${action} it (list --all shows others' jobs, read-only)`);
    this.#log(`refused ${action} of job ${job}: ${err.message}`);
    this.#jobs.event(job, row.attempt, 'event', `refused ${action} from ${caller.via}: not its owner`);
    throw err;
  }
}
