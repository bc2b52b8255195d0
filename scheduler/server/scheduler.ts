// The scheduler's core: jobs, nodes, leases, placement and fencing, without the wire. The gRPC
// service (service.ts) turns calls into these methods, and a node's command stream into a
// CommandSink, so that this file is tested directly too. Here: leadership, the timer and the
// guard of every write; what the core holds is core-parts.ts's, and the calls are its parts':
// nodes' sessions (node-sessions.ts), placement (dispatch.ts), an attempt's calls
// (attempt-calls.ts) and people's (job-requests.ts).
import { AttemptCalls } from './attempt-calls.js';
import { CoreParts, type CorePartsOptions } from './core-parts.js';
import { openDb, setMeta, type Db } from './db.js';
import { Dispatch } from './dispatch.js';
import { JobRequests } from './job-requests.js';
import { Retention, RETENTION_SWEEP_MS } from './retention.js';
import { DEFAULT_LEADER_LEASE_MS, Leadership, NotLeaderError } from './leadership.js';
import { NodeSessions } from './node-sessions.js';
import { SchedulerError } from './scheduler-error.js';

export { SchedulerError };

export interface SchedulerCoreOptions extends CorePartsOptions {
  /** A postgres:// URL (`--db`); absent or null: SQLite under `dataDir`. */
  dbUrl?: string | null;
  /** Finished jobs' images are removed this long after they ended, ms (retention.ts). */
  keepFinishedMs?: number;
  /** Its S3-compatible endpoint, told to agents with its location (`--images-endpoint`). */
  sharedImagesEndpoint?: string;
  /** Where clients reach this scheduler (`serve --advertise`); what standbys tell writers (default: "this process"). */
  address?: string;
  /** The leader's lease, ms (leadership.ts). */
  leaderLeaseMs?: number;
}

const TICK_MS_MAX = 250;

export class SchedulerCore extends CoreParts {
  readonly retention: Retention;
  /** Whether this scheduler leads, and the fence of every write. */
  readonly leadership: Leadership;
  readonly #sessions: NodeSessions;
  readonly #dispatch: Dispatch;
  readonly #attemptCalls: AttemptCalls;
  readonly #requests: JobRequests;
  #timer: NodeJS.Timeout | null = null;
  #lastSweep = 0;
  #ticking = false;

  /** Opens the database (migrating it) and the image store. */
  static async open(options: SchedulerCoreOptions): Promise<SchedulerCore> {
    const leaderLeaseMs = options.leaderLeaseMs ?? DEFAULT_LEADER_LEASE_MS;
    // A paused leader's open transaction is ended within its lease, so a standby can take over.
    const db = await openDb({ dataDir: options.dataDir, url: options.dbUrl ?? null, idleInTransactionMs: leaderLeaseMs });
    const core = new SchedulerCore(db, { ...options, leaderLeaseMs });
    // Leads at once when nobody else does; else stands by (start() keeps trying).
    await core.leadership.round();
    return core;
  }

  private constructor(db: Db, options: SchedulerCoreOptions) {
    super(db, options);
    this.retention = new Retention(this.db, this.images, options.keepFinishedMs);
    this.leadership = new Leadership(this.db, {
      address: options.address ?? `pid ${process.pid}`,
      leaseMs: options.leaderLeaseMs,
      log: this.log,
      onLead: () => this.#lead(),
      onStandby: () => this.#standBy(),
    });
    this.#sessions = new NodeSessions(this, options.sharedImagesEndpoint ?? '');
    this.#dispatch = new Dispatch(this);
    this.#attemptCalls = new AttemptCalls(this);
    this.#requests = new JobRequests(this);
    // Every write an RPC reaches: a full disk makes it a refusal with a status, and the scheduler degraded.
    const guard = <A extends unknown[], R>(what: string, status: 'UNAVAILABLE' | 'RESOURCE_EXHAUSTED', fn: (...args: A) => Promise<R>) =>
      this.storage.guard(what, fn.bind(this), (message) => new SchedulerError(status, message));
    this.submit = guard('accepting the job', 'RESOURCE_EXHAUSTED', this.submit);
    for (const [name, what] of [['report', 'recording a report'], ['finish', 'recording how an attempt ended'], ['connect', 'registering a node'], ['cancel', 'cancelling a job'], ['checkpoint', 'asking for a checkpoint'], ['drain', 'draining a node'], ['deleteImages', 'removing images']] as const) {
      (this as Record<string, unknown>)[name] = guard(what, 'UNAVAILABLE', this[name] as (...args: never[]) => Promise<unknown>);
    }
  }

  /**
   * Taking the lead (at start, or from a leader that died): every node the database knows as
   * alive gets one fresh lease, plus an agent's reconnection pause, to reconnect to this
   * scheduler in, so that the handover is not counted as node deaths; their jobs keep running.
   */
  async #lead(): Promise<void> {
    const alive = await this.nodes.alive();
    this.leases.clear();
    for (const node of alive) this.leases.adopt(node.name, node.slots);
  }

  /** Lost the lead: its agents' streams end (they reconnect to the leader), its uploads fail. */
  #standBy(): void {
    for (const lease of this.leases.connected()) lease.sink?.end();
    this.leases.clear();
    this.images.abortUploads('this scheduler stopped leading: upload the image to the leader');
  }

  /** Leadership rounds, lease checks and placement of jobs whose back-off has passed. */
  start(): void {
    this.leadership.start();
    const tick = Math.min(TICK_MS_MAX, Math.max(20, this.leases.timeoutMs / 5));
    let last = Date.now();
    this.#timer = setInterval(() => {
      const now = Date.now();
      // The scheduler itself was stalled (starved of CPU, suspended): heartbeats that arrived
      // meanwhile were not read yet, so the stall must not count against the nodes.
      if (now - last > 2 * tick) this.leases.extend(now - last - tick);
      last = now;
      void this.tick(now);
    }, tick);
  }

  /**
   * One turn of the timer: lease checks, the retention sweep when due, placement, and, while
   * degraded, the check for space. Never throws: an error of the disk degrades the scheduler,
   * any other is logged, and the next tick runs as usual.
   */
  async tick(now = Date.now()): Promise<void> {
    // A slow database (or a long sweep) must not have ticks overlap; a standby has nothing to do.
    if (this.#ticking || !this.leadership.leading) return;
    this.#ticking = true;
    try {
      await this.#steps(now);
    } finally {
      this.#ticking = false;
    }
  }

  async #steps(now: number): Promise<void> {
    const steps: [string, () => Promise<unknown>][] = [
      ['checking leases', () => this.checkLeases(now)],
      ['recovering from a full disk', () => this.#recover()],
      ['removing finished jobs\' images', async () => now - this.#lastSweep >= RETENTION_SWEEP_MS && (await this.sweep(now))],
      ['placing jobs', () => this.schedule(now)],
    ];
    for (const [what, step] of steps) {
      if (!this.leadership.leading) return;
      try {
        await step();
      } catch (err) {
        if (err instanceof NotLeaderError) return;
        if (!this.storage.noticed(err, what)) this.log(`error while ${what} (the scheduler goes on): ${(err as Error)?.stack ?? String(err)}`);
      }
    }
  }

  /** Retention (retention.ts) now; logs what it removed and what it could not. */
  async sweep(now = Date.now()): Promise<void> {
    this.#lastSweep = now;
    const swept = await this.retention.sweep(now);
    if (swept.images > 0) this.log(`retention: removed ${swept.images} image${swept.images === 1 ? '' : 's'} (${swept.bytes} bytes) of ${swept.jobs} finished job${swept.jobs === 1 ? '' : 's'}`);
    for (const failure of swept.failed) this.log(`retention: could not remove ${failure}`);
  }

  async #recover(): Promise<void> {
    await this.storage.recover(
      () => this.sweep(),
      () => setMeta(this.db, 'storage-probe', String(Date.now())),
    );
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    for (const lease of this.leases.connected()) lease.sink?.end();
    this.images.close();
    this.images.shared?.close();
    await this.leadership.close();
    await this.db.close();
  }

  // --- the parts' calls (core-parts.ts), as the service and the HTTP listener make them ---

  /** The cr version each node's agent said it runs when it last connected (for people: the dashboard). */
  get versions(): Map<string, string> {
    return this.#sessions.versions;
  }
  connect(...a: Parameters<NodeSessions['connect']>) { return this.#sessions.connect(...a); }
  disconnected(...a: Parameters<NodeSessions['disconnected']>) { return this.#sessions.disconnected(...a); }
  heartbeat(...a: Parameters<NodeSessions['heartbeat']>) { return this.#sessions.heartbeat(...a); }
  checkLeases(...a: Parameters<NodeSessions['checkLeases']>) { return this.#sessions.checkLeases(...a); }
  drain(...a: Parameters<NodeSessions['drain']>) { return this.#sessions.drain(...a); }
  nodeInfo(...a: Parameters<NodeSessions['nodeInfo']>) { return this.#sessions.nodeInfo(...a); }
  listNodes() { return this.#sessions.listNodes(); }

  get placing(): boolean {
    return this.#dispatch.placing;
  }
  schedule(now?: number) { return this.#dispatch.schedule(now); }

  code(...a: Parameters<AttemptCalls['code']>) { return this.#attemptCalls.code(...a); }
  report(...a: Parameters<AttemptCalls['report']>) { return this.#attemptCalls.report(...a); }
  finish(...a: Parameters<AttemptCalls['finish']>) { return this.#attemptCalls.finish(...a); }
  upload(...a: Parameters<AttemptCalls['upload']>) { return this.#attemptCalls.upload(...a); }
  imageFile(...a: Parameters<AttemptCalls['imageFile']>) { return this.#attemptCalls.imageFile(...a); }

  submit(...a: Parameters<JobRequests['submit']>) { return this.#requests.submit(...a); }
  job(...a: Parameters<JobRequests['job']>) { return this.#requests.job(...a); }
  jobInfo(...a: Parameters<JobRequests['jobInfo']>) { return this.#requests.jobInfo(...a); }
  cancel(...a: Parameters<JobRequests['cancel']>) { return this.#requests.cancel(...a); }
  checkpoint(...a: Parameters<JobRequests['checkpoint']>) { return this.#requests.checkpoint(...a); }
  deleteImages(...a: Parameters<JobRequests['deleteImages']>) { return this.#requests.deleteImages(...a); }
  listImages(...a: Parameters<JobRequests['listImages']>) { return this.#requests.listImages(...a); }
}
