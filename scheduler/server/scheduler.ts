// The scheduler's core: jobs, nodes, leases, placement and fencing, without the wire. The gRPC
// service (service.ts) turns calls into these methods, and a node's command stream into a
// CommandSink, so that this file is tested directly too.
import { createHash, randomUUID } from 'node:crypto';
import path from 'node:path';
import type {
  Assignment,
  Command,
  ConnectRequest__Output as ConnectRequest,
  FinishRequest__Output as FinishRequest,
  ImageInfo,
  JobInfo,
  NodeInfo,
  ReportRequest__Output as ReportRequest,
  SubmitRequest__Output as SubmitRequest,
} from '../proto/types.js';
import { DEFAULT_FULL_EVERY, DEFAULT_INTERVAL_MS } from '../../src/internal.js';
import type { SharedStore } from '../images/store.js';
import { AttemptGuard } from './attempt-guard.js';
import { openDb, setMeta, type Db } from './db.js';
import { basesOf, ImageStore, type UploadHeader, type UploadResult } from './images.js';
import { ImageStats } from './image-stats.js';
import { Retention, RETENTION_SWEEP_MS } from './retention.js';
import { StorageHealth } from './storage.js';
import { SchedulerMetrics } from './metrics.js';
import { Jobs, TERMINAL, type JobRow, type Finish } from './jobs.js';
import type { ImageRow } from './schema.js';
import { Leadership, NotLeaderError } from './leadership.js';
import { Leases, type CommandSink } from './leases.js';
import { Nodes, type NodeRow } from './nodes.js';
import { ownerName, Owners, type Owner } from './owners.js';
import { place } from './placement.js';
import { stateInWords } from '../output.js';
import { cutLogLine, jobNameProblem } from '../names.js';
import { finite, int, keptError, resultProblem, text } from './inputs.js';

export interface SchedulerCoreOptions {
  dataDir: string;
  /** A postgres:// URL (`--db`); absent or null: SQLite under `dataDir`. */
  dbUrl?: string | null;
  /** A node not heard from for this long is presumed dead, ms. */
  leaseTimeoutMs: number;
  /** Called with one line per thing worth telling an operator. */
  log?: (line: string) => void;
  /** An image upload that gets no byte for this long fails, ms (default 30 s). */
  uploadIdleTimeoutMs?: number;
  /** Bytes of an upload between the fdatasyncs behind its writes (tests; default 32 MiB). */
  flushBehindBytes?: number;
  /** Upload parts at least this long are written directly, O_DIRECT (tests; default 16 MiB). */
  directMinBytes?: number;
  /** Upload limits (images.ts): image size, a job's images, the minimum rate and its window. */
  maxImageBytes?: number;
  maxJobImageBytes?: number;
  minUploadBytesPerS?: number;
  uploadRateWindowMs?: number;
  /** Finished jobs' images are removed this long after they ended, ms (retention.ts). */
  keepFinishedMs?: number;
  /** Free space wanted on the data directory's disk before new work is taken again after it was full (storage.ts). */
  storageReserveBytes?: number;
  /** The shared image store agents write images to and read them from (`--images`); default none: over gRPC to <data>/images. */
  sharedImages?: SharedStore | null;
  /** Its S3-compatible endpoint, told to agents with its location (`--images-endpoint`). */
  sharedImagesEndpoint?: string;
  /** Where clients reach this scheduler (`serve --advertise`); what standbys tell writers (default: "this process"). */
  address?: string;
  /** The leader's lease, ms (leadership.ts). */
  leaderLeaseMs?: number;
}

/** A refusal the service maps to a gRPC status; its message says what to do. */
export class SchedulerError extends Error {
  constructor(
    readonly status: 'NOT_FOUND' | 'FAILED_PRECONDITION' | 'INVALID_ARGUMENT' | 'RESOURCE_EXHAUSTED' | 'UNAVAILABLE' | 'DEADLINE_EXCEEDED' | 'PERMISSION_DENIED',
    message: string,
  ) {
    super(message);
  }
}

const TICK_MS_MAX = 250;
const MAX_CODE_BYTES = 32 << 20;

export class SchedulerCore {
  readonly db: Db;
  readonly jobs: Jobs;
  readonly nodes: Nodes;
  readonly images: ImageStore;
  readonly leases: Leases;
  /** Whether a caller may act for an attempt (its node, its secret). */
  readonly attempts: AttemptGuard;
  /** Who submitted each job, and whether a caller may act on it. */
  readonly owners: Owners;
  readonly storage: StorageHealth;
  readonly retention: Retention;
  /** Prometheus metrics (metrics.ts); served by the HTTP listener. */
  readonly metrics: SchedulerMetrics;
  /** What each checkpoint cost its job (pause, commit, raw bytes), as its node measured it. */
  readonly imageStats: ImageStats;
  /** Whether this scheduler leads, and the fence of every write. */
  readonly leadership: Leadership;
  readonly #log: (line: string) => void;
  readonly #sharedEndpoint: string;
  #timer: NodeJS.Timeout | null = null;
  #lastSweep = 0;
  #placing = false;
  /** The cr version each node's agent said it runs when it last connected (for people: the dashboard). */
  readonly versions = new Map<string, string>();
  #placeAgain = false;
  #ticking = false;

  /** Opens the database (migrating it) and the image store. */
  static async open(options: SchedulerCoreOptions): Promise<SchedulerCore> {
    const db = await openDb({ dataDir: options.dataDir, url: options.dbUrl ?? null });
    const core = new SchedulerCore(db, options);
    // Leads at once when nobody else does; else stands by (start() keeps trying).
    await core.leadership.round();
    return core;
  }

  private constructor(db: Db, options: SchedulerCoreOptions) {
    this.#log = options.log ?? (() => undefined);
    this.db = db;
    this.storage = new StorageHealth(options.dataDir, this.#log, options.storageReserveBytes);
    this.jobs = new Jobs(this.db);
    this.nodes = new Nodes(this.db);
    this.images = new ImageStore(this.db, path.join(options.dataDir, 'images'), {
      uploadIdleTimeoutMs: options.uploadIdleTimeoutMs,
      flushBehindBytes: options.flushBehindBytes,
      directMinBytes: options.directMinBytes,
      maxImageBytes: options.maxImageBytes,
      maxJobImageBytes: options.maxJobImageBytes,
      minUploadBytesPerS: options.minUploadBytesPerS,
      rateWindowMs: options.uploadRateWindowMs,
      room: (bytes) => this.storage.room(bytes, () => this.sweep()),
      diskError: (err) => this.storage.noticed(err, 'storing an image'),
      shared: options.sharedImages ?? null,
      log: this.#log,
    });
    this.#sharedEndpoint = options.sharedImagesEndpoint ?? '';
    this.retention = new Retention(this.db, this.images, options.keepFinishedMs);
    this.leases = new Leases(options.leaseTimeoutMs);
    this.attempts = new AttemptGuard(this.db, this.jobs, this.#log);
    this.owners = new Owners(this.db, this.jobs, this.#log);
    this.metrics = new SchedulerMetrics({ jobsByState: () => this.jobs.countByState(), nodeStates: () => this.listNodes() });
    this.imageStats = new ImageStats(this.db);
    this.leadership = new Leadership(this.db, {
      address: options.address ?? `pid ${process.pid}`,
      leaseMs: options.leaderLeaseMs,
      log: this.#log,
      onLead: () => this.#lead(),
      onStandby: () => this.#standBy(),
    });
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
        if (!this.storage.noticed(err, what)) this.#log(`error while ${what} (the scheduler goes on): ${(err as Error)?.stack ?? String(err)}`);
      }
    }
  }

  /** Retention (retention.ts) now; logs what it removed and what it could not. */
  async sweep(now = Date.now()): Promise<void> {
    this.#lastSweep = now;
    const swept = await this.retention.sweep(now);
    if (swept.images > 0) this.#log(`retention: removed ${swept.images} image${swept.images === 1 ? '' : 's'} (${swept.bytes} bytes) of ${swept.jobs} finished job${swept.jobs === 1 ? '' : 's'}`);
    for (const failure of swept.failed) this.#log(`retention: could not remove ${failure}`);
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

  // --- agents ---

  async connect(request: ConnectRequest, sink: CommandSink, now = Date.now()): Promise<string> {
    const node = request.node ?? '';
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(node)) throw new SchedulerError('INVALID_ARGUMENT', `node name ${JSON.stringify(node)} is not valid: letters, digits, ".", "_" and "-"`);
    const slots = request.slots ?? 0;
    if (!Number.isInteger(slots) || slots < 1 || slots > 1024) throw new SchedulerError('INVALID_ARGUMENT', `slots must be from 1 to 1024, got ${slots}`);
    const session = randomUUID();
    const previous = this.leases.open(node, session, sink, slots, now);
    previous?.sink?.end();
    const row = await this.nodes.register(node, slots, now);
    this.versions.set(node, String(request.version ?? '').slice(0, 64));
    const store = this.images.shared ? { imageStore: this.images.shared.location, imageStoreEndpoint: this.#sharedEndpoint } : {};
    sink.write({ registered: { session, imageKey: this.images.key, leaseTimeoutMs: this.leases.timeoutMs, heartbeatIntervalMs: Math.max(50, Math.floor(this.leases.timeoutMs / 4)), ...store } });
    // Reconcile what the agent runs with what the database says runs there.
    const reported = new Map((request.running ?? []).map((r) => [r.job ?? 0, r.attempt ?? 0]));
    const lost: { id: number; attempt: number }[] = [];
    for (const job of await this.jobs.runningOn(node)) {
      if (reported.get(job.id) === job.attempt) {
        reported.delete(job.id);
        if (job.pending === 'migrate' || job.pending === 'checkpoint') this.#control(job, job.pending === 'migrate' ? 'MIGRATE' : 'CHECKPOINT');
      } else {
        lost.push({ id: job.id, attempt: job.attempt });
      }
    }
    for (const [job, attempt] of reported) sink.write({ control: { job, attempt, action: 'STALE' } });
    if (lost.length > 0) await this.jobs.requeueLost(lost, `node ${node} reconnected without it`, now);
    this.metrics.restarts.inc({ reason: 'node_reconnected' }, lost.length);
    this.#log(`node ${node} connected (${slots} slot${slots === 1 ? '' : 's'}${row.draining ? ', draining' : ''}, running ${request.running?.length ?? 0})`);
    await this.schedule();
    return session;
  }

  disconnected(node: string, sink: CommandSink): void {
    this.leases.detach(node, sink);
  }

  /** `draining`: the agent is stopping; the node is drained (once) until it registers again. */
  async heartbeat(node: string, session: string, now = Date.now(), draining = false): Promise<boolean> {
    const known = this.leases.renew(node, session, now);
    // The lease is renewed in memory whatever the disk does; last_seen is only for people.
    try {
      if (known) await this.nodes.touch(node, now);
    } catch (err) {
      if (!this.storage.noticed(err, 'recording a heartbeat')) throw err;
    }
    if (known && draining && (await this.nodes.get(node))?.draining === 0) {
      try {
        await this.nodes.setLeaving(node);
      } catch (err) {
        // Not recorded: the next heartbeat (it says draining again) retries.
        if (!this.storage.noticed(err, 'recording a draining node')) throw err;
        return known;
      }
      await this.#migrateAll(node, `node ${node} is stopping (its agent was signalled): checkpointing to move the job`);
      this.#log(`node ${node} is draining: its agent is stopping`);
    }
    return known;
  }

  /** Nodes whose lease expired are dead; their jobs go back to the queue, no retry spent. */
  async checkLeases(now = Date.now()): Promise<void> {
    for (const lease of this.leases.expire(now)) {
      let moved: JobRow[];
      try {
        moved = await this.db.write(async () => {
          await this.nodes.setAlive(lease.node, false);
          const running = (await this.jobs.runningOn(lease.node)).map((j) => ({ id: j.id, attempt: j.attempt }));
          return this.jobs.requeueLost(running, `node ${lease.node} missed its lease (${this.leases.timeoutMs} ms)`, now);
        });
      } catch (err) {
        // Not recorded (a full disk): the lease stays expired in memory and is tried again at the
        // next tick; nothing changed, so its jobs are still the node's if it comes back.
        this.leases.putBack(lease);
        if (this.storage.noticed(err, `expiring the lease of node ${lease.node}`)) continue;
        throw err;
      }
      lease.sink?.end();
      this.metrics.leaseExpired(moved.length);
      this.#log(`node ${lease.node} is dead (no heartbeat for ${this.leases.timeoutMs} ms); ${moved.length} job${moved.length === 1 ? '' : 's'} back in the queue`);
    }
    if (!this.#placing) await this.schedule(now);
  }

  async code(sha256: string): Promise<Buffer> {
    const code = await this.jobs.code(sha256);
    if (code === undefined) throw new SchedulerError('NOT_FOUND', `no job code with sha256 ${sha256}`);
    return code;
  }

  report(request: Omit<ReportRequest, 'secret'>, now = Date.now()): Promise<boolean> {
    const progress = request.progress !== undefined && request.progress >= 0 ? request.progress : null;
    this.metrics.checkpointsFailedAt('upload', request.checkpointsFailed ?? 0);
    this.metrics.checkpointsFailedAt('write', request.checkpointWritesFailed ?? 0);
    return this.jobs.report(request.job ?? 0, request.attempt ?? 0, progress, request.message || null, (request.logs ?? []).map(cutLogLine), now);
  }

  async finish(request: Omit<FinishRequest, 'secret' | 'unusableImages'> & { unusableImages?: number[] }, now = Date.now()): Promise<boolean> {
    let finish: Finish;
    switch (request.outcome) {
      case 'SUCCEEDED': {
        const resultJson = request.resultJson || 'null';
        const problem = resultProblem(resultJson);
        if (problem !== null) {
          // Refused and changes nothing but the job's record of the refusal, as every refusal.
          const job = request.job ?? 0;
          this.#log(`refused Finish of job ${job} attempt ${request.attempt ?? 0}: ${problem}`);
          if ((await this.jobs.get(job)) !== undefined) await this.jobs.event(job, request.attempt ?? 0, 'event', `refused Finish: ${problem}`, now);
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
    if (unusable.length > 0 && (await this.jobs.isCurrent(job, request.attempt ?? 0))) {
      const { removed } = await this.images.remove(job, unusable);
      if (removed.length > 0) {
        const numbers = removed.map((r) => r.sequence).join(', ');
        await this.jobs.event(job, request.attempt ?? 0, 'event', `image${removed.length === 1 ? '' : 's'} ${numbers} could not be used (missing or damaged where stored): forgotten, falling back to an older image`, now);
        this.#log(`job ${job}: image${removed.length === 1 ? '' : 's'} ${numbers} missing or damaged in the store, forgotten`);
      }
    }
    const effect = await this.jobs.finish(job, request.attempt ?? 0, finish, now);
    this.metrics.attemptEnded(finish.outcome, effect);
    if (effect !== 'stale') await this.schedule();
    return effect !== 'stale';
  }

  /** One stream of an upload (the whole image, or one part of a parallel upload). */
  async upload(header: UploadHeader, parts: AsyncIterable<{ chunk?: Buffer; sha256?: string }>): Promise<UploadResult> {
    // Once per image, however many parts carried it.
    const stored = async (): Promise<void> => {
      try {
        const job = await this.jobs.get(header.job);
        if (job?.pending === 'checkpoint' && job.attempt === header.attempt) await this.jobs.setPending(job.id, null);
        const how = (header.parts ?? 0) > 1 ? ` in ${header.parts} parts` : '';
        this.metrics.stored(header);
        await this.jobs.event(header.job, header.attempt, 'event', `image ${header.sequence} stored (${header.bytes} bytes${how}, from node ${header.node})`);
        const row = (await this.images.list(header.job)).find((r) => r.sequence === header.sequence);
        await this.imageStats.record(header.job, header.sequence, header.attempt, row !== undefined && (basesOf(row)?.length ?? 0) > 0, header);
      } catch (err) {
        // The image is recorded; only its event is lost.
        if (!this.storage.noticed(err, 'recording an image\'s event')) throw err;
      }
    };
    const isCurrent = (): Promise<boolean> => this.jobs.isCurrent(header.job, header.attempt);
    if (header.storedSha256) return this.images.record({ ...header, storedSha256: header.storedSha256 }, isCurrent, stored);
    if (this.images.shared) return { accepted: false, stale: false, reason: `this scheduler keeps images in the shared image store ${this.images.shared.location}: write the image there and record it` };
    return this.metrics.upload((header.parts ?? 0) > 1 ? (header.length ?? 0) : header.bytes, this.images.receive(header, parts, isCurrent, stored));
  }

  async imageFile(job: number, sequence: number): Promise<string> {
    if (this.images.shared) throw new SchedulerError('FAILED_PRECONDITION', `images are in the shared image store ${this.images.shared.location}: agents read them there`);
    if (!(await this.images.list(job)).some((r) => r.sequence === sequence)) throw new SchedulerError('NOT_FOUND', `job ${job} has no image ${sequence}`);
    return this.images.file(job, sequence);
  }

  // --- placement ---

  /** Places queued jobs on connected nodes with free slots; sends each its assignment. */
  async schedule(now = Date.now()): Promise<number> {
    // Degraded: no new work (a placement is a write, and a new attempt would upload images).
    if (this.storage.degraded !== null) return 0;
    // One placement at a time; one asked for meanwhile runs when it ends (its jobs may be new).
    if (this.#placing) {
      this.#placeAgain = true;
      return 0;
    }
    this.#placing = true;
    try {
      let placed = 0;
      do {
        this.#placeAgain = false;
        placed += await this.#place(now);
        now = Date.now();
      } while (this.#placeAgain && this.storage.degraded === null);
      return placed;
    } finally {
      this.#placing = false;
    }
  }

  async #place(now: number): Promise<number> {
    {
      const running = await this.jobs.runningCounts();
      const free = new Map<string, number>();
      let total = 0;
      for (const lease of this.leases.connected()) {
        const node = await this.nodes.get(lease.node);
        if (node === undefined || node.draining || !node.alive) continue;
        const n = lease.slots - (running.get(lease.node) ?? 0);
        if (n > 0) {
          free.set(lease.node, n);
          total += n;
        }
      }
      if (total === 0) return 0;
      const queued = (await this.jobs.placeable(now, total + this.images.committing.size)).filter((j) => !this.images.committing.has(j.id));
      if (queued.length === 0) return 0;
      // Each attempt's secret is made in the transaction that starts it: no attempt runs without one.
      const started = await this.db.write(async () => {
        const jobs = await this.jobs.start(place(queued, free), now);
        const secrets = await this.attempts.issueAll(jobs.map((job) => ({ job: job.id, attempt: job.attempt, node: job.node! })));
        return jobs.map((job, i) => ({ job, secret: secrets[i]! }));
      });
      const images = await this.images.listMany(started.map(({ job }) => job.id));
      for (const { job, secret } of started) {
        const assignment = await this.#assignment(job, images.get(job.id));
        this.leases.get(job.node!)?.sink?.write({ assign: { ...assignment, secret } });
      }
      this.metrics.placements.inc(started.length);
      return started.length;
    }
  }

  async #assignment(job: JobRow, images?: ImageRow[]): Promise<Assignment> {
    const plan = await this.images.restorePlan(job.id, images);
    const ref = (r: { sequence: number; bytes: number; sha256: string; attempt: number }) => ({ sequence: r.sequence, bytes: r.bytes, sha256: r.sha256, attempt: r.attempt });
    return {
      job: job.id,
      attempt: job.attempt,
      name: job.name,
      codeSha256: job.code_sha256,
      argsJson: job.args_json,
      intervalMs: job.interval_ms,
      fullEvery: job.full_every,
      images: plan.map(ref),
    };
  }

  #control(job: JobRow, action: 'CHECKPOINT' | 'MIGRATE' | 'CANCEL' | 'STALE'): void {
    if (job.node) this.leases.get(job.node)?.sink?.write({ control: { job: job.id, attempt: job.attempt, action } } satisfies Command);
  }

  // --- the CLI ---

  async submit(request: SubmitRequest, owner: Owner | null = null, now = Date.now()): Promise<JobInfo> {
    if (this.storage.degraded !== null) throw new SchedulerError('RESOURCE_EXHAUSTED', `${this.storage.status}; free space in the scheduler's data directory and retry`);
    const code = request.code ? Buffer.from(request.code as Uint8Array) : Buffer.alloc(0);
    if (code.length === 0) throw new SchedulerError('INVALID_ARGUMENT', 'the job has no code');
    if (code.length > MAX_CODE_BYTES) throw new SchedulerError('INVALID_ARGUMENT', `the job's code is ${code.length} bytes; at most ${MAX_CODE_BYTES}`);
    const argsJson = request.argsJson || '{}';
    try {
      JSON.parse(argsJson);
    } catch {
      throw new SchedulerError('INVALID_ARGUMENT', 'args_json is not valid JSON');
    }
    const name = request.name || 'job';
    const problem = jobNameProblem(name);
    if (problem !== null) throw new SchedulerError('INVALID_ARGUMENT', problem);
    const row = await this.db.write(async () => {
      const submitted = await this.jobs.submit(
      {
        name,
        code,
        codeSha256: createHash('sha256').update(code).digest('hex'),
        argsJson,
        retries: request.retries ?? 3,
        priority: request.priority ?? 0,
        intervalMs: request.intervalMs || DEFAULT_INTERVAL_MS,
        fullEvery: request.fullEvery || DEFAULT_FULL_EVERY,
      },
      now,
      );
      if (owner !== null) await this.owners.record(submitted.id, owner);
      return submitted;
    });
    await this.schedule(now);
    return this.jobInfo((await this.jobs.get(row.id))!);
  }

  async job(id: number): Promise<JobRow> {
    const job = await this.jobs.get(id);
    if (job === undefined) throw new SchedulerError('NOT_FOUND', `no job ${id}: "cr-scheduler list" shows the jobs`);
    return job;
  }

  /**
   * A job as the CLI gets it: whatever a row holds (a value written by hand, a bad disk), each
   * field has its type. `known`: its images and owner, when a list read them with the row.
   */
  async jobInfo(job: JobRow, known?: { images: number; owner: Owner | undefined }): Promise<JobInfo> {
    return {
      id: job.id,
      name: text(job.name),
      state: text(job.state),
      priority: int(job.priority, -(2 ** 31), 2 ** 31 - 1),
      retries: int(job.retries),
      retriesUsed: int(job.retries_used),
      attempt: int(job.attempt),
      node: text(job.node),
      progress: finite(job.progress),
      message: text(job.message),
      resultJson: text(job.result_json),
      errorJson: text(job.error_json),
      submittedAt: finite(job.submitted_at),
      startedAt: finite(job.started_at),
      finishedAt: finite(job.finished_at),
      pending: text(job.pending),
      images: known ? known.images : await this.images.count(job.id),
      moves: int(job.moves),
      owner: ownerName(known ? known.owner : await this.owners.of(job.id)),
    };
  }

  async cancel(id: number): Promise<JobInfo> {
    await this.job(id);
    const { before, after } = (await this.jobs.cancel(id))!;
    if (before.state === 'running') this.#control(before, 'CANCEL');
    return this.jobInfo(after);
  }

  async checkpoint(id: number): Promise<JobInfo> {
    const job = await this.job(id);
    if (job.state !== 'running') throw new SchedulerError('FAILED_PRECONDITION', `job ${id} ${stateInWords(job.state)}: only a running job can take a checkpoint`);
    if (job.pending !== 'migrate') await this.jobs.setPending(id, 'checkpoint');
    this.#control(job, 'CHECKPOINT');
    return this.jobInfo((await this.jobs.get(id))!);
  }

  async drain(name: string, undo = false): Promise<NodeInfo> {
    if ((await this.nodes.get(name)) === undefined) throw new SchedulerError('NOT_FOUND', `no node ${JSON.stringify(name)}: "cr-scheduler nodes" lists them`);
    await this.nodes.setDraining(name, !undo);
    if (!undo) {
      await this.#migrateAll(name, `node ${name} is draining: checkpointing to move the job`);
      this.#log(`node ${name} is draining`);
    } else {
      await this.schedule();
    }
    return this.nodeInfo((await this.nodes.get(name))!, await this.jobs.runningCounts());
  }

  /** Each job running on `node` checkpoints at its next safe point, stops, and goes back to the queue. */
  async #migrateAll(node: string, why: string): Promise<void> {
    for (const job of await this.jobs.runningOn(node)) {
      await this.db.write(async () => {
        await this.jobs.setPending(job.id, 'migrate');
        await this.jobs.event(job.id, job.attempt, 'event', why);
      });
      this.#control(job, 'MIGRATE');
    }
  }

  nodeInfo(node: NodeRow, running: ReadonlyMap<string, number>): NodeInfo {
    const connected = this.leases.get(node.name)?.sink != null;
    return {
      name: node.name,
      state: !node.alive ? 'dead' : node.draining ? 'draining' : connected ? 'alive' : 'reconnecting',
      slots: node.slots,
      running: running.get(node.name) ?? 0,
      lastSeen: node.last_seen,
      registeredAt: node.registered_at,
    };
  }

  /** A finished job's images, removed (`images JOB --delete`): its records, then its files. */
  async deleteImages(id: number): Promise<ImageInfo[]> {
    const job = await this.job(id);
    if (!TERMINAL.includes(job.state)) {
      throw new SchedulerError('FAILED_PRECONDITION', `job ${id} is ${job.state}: its images are what it resumes from; cancel it first ("cr-scheduler cancel ${id}") to remove them`);
    }
    const images = await this.listImages(id);
    const { failed } = await this.images.remove(id);
    await this.jobs.event(id, job.attempt, 'event', `${images.length} image${images.length === 1 ? '' : 's'} removed on request`);
    for (const failure of failed) this.#log(`images of job ${id}: could not remove ${failure}`);
    return images;
  }

  async listNodes(): Promise<NodeInfo[]> {
    const running = await this.jobs.runningCounts();
    return (await this.nodes.list()).map((n) => this.nodeInfo(n, running));
  }

  async listImages(id: number): Promise<ImageInfo[]> {
    await this.job(id);
    return (await this.images.list(id)).map((r) => ({
      sequence: r.sequence,
      attempt: r.attempt,
      bytes: r.bytes,
      sha256: r.sha256,
      bases: basesOf(r) ?? [],
      createdAt: r.created_at,
      node: r.node,
    }));
  }
}
