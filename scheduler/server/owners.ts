// Who owns a job: the token it was submitted with. The one place that decides whether a user
// may act on a job (status, logs, result, images, cancel, checkpoint): its owner and admins
// may, nobody else. `list --all` shows everyone's jobs read-only, without what their code
// produced (results, errors, messages). A refusal changes nothing, is logged, and is recorded
// as an event of the job naming the caller, which its owner sees in `logs`.
import { AuthError, type Caller } from './auth.js';
import type { Db } from './db.js';
import type { Jobs } from './jobs.js';

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

  constructor(db: Db, jobs: Jobs, log: (line: string) => void) {
    this.#db = db;
    this.#jobs = jobs;
    this.#log = log;
  }

  async record(job: number, owner: Owner): Promise<void> {
    await this.#db.write(() =>
      this.#db.q
        .insertInto('job_owners')
        .values({ job, token: owner.token, label: owner.label })
        .onConflict((oc) => oc.column('job').doUpdateSet({ token: owner.token, label: owner.label }))
        .execute(),
    );
  }

  of(job: number): Promise<Owner | undefined> {
    return this.#db.q.selectFrom('job_owners').select(['token', 'label']).where('job', '=', job).executeTakeFirst();
  }

  /** Whether `caller` may act on `job` (no event: for filtering lists). */
  async owns(caller: Caller, job: number): Promise<boolean> {
    const scope = this.scope(caller);
    if (scope === 'none') return false;
    return scope.token === null || (await this.of(job))?.token === scope.token;
  }

  /** Whether `caller` may act on a job submitted with token `owner` (undefined: none recorded). */
  ownsBy(caller: Caller, owner: string | undefined): boolean {
    const scope = this.scope(caller);
    return scope !== 'none' && (scope.token === null || scope.token === owner);
  }

  /** The rule: the jobs `caller` may act on, those of one token, every job's (token null: an admin), or 'none'. */
  scope(caller: Caller): { token: string | null } | 'none' {
    if (caller.role === 'admin') return { token: null };
    return caller.role === 'user' && caller.token !== null ? { token: caller.token } : 'none';
  }

  /**
   * Throws AuthError(PERMISSION_DENIED) unless `caller` may `action` job `job`. A job that does
   * not exist passes: the caller's own lookup says NOT_FOUND.
   */
  async check(caller: Caller, action: string, job: number): Promise<void> {
    const row = await this.#jobs.get(job);
    if (row === undefined || (await this.owns(caller, job))) return;
    const err = new AuthError('PERMISSION_DENIED', `job ${job} belongs to ${ownerName(await this.of(job)) || 'an admin'}: ${caller.via} may not ${action} it (list --all shows others' jobs, read-only)`);
    this.#log(`refused ${action} of job ${job}: ${err.message}`);
    await this.#jobs.event(job, row.attempt, 'event', `refused ${action} from ${caller.via}: not its owner`).catch(() => undefined);
    throw err;
  }
}
