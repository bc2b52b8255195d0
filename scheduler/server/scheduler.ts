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
import { openDb, type Db } from './db.js';
import { basesOf, ImageStore, type UploadHeader, type UploadResult } from './images.js';
import { ImageStats } from './image-stats.js';
import { Retention, RETENTION_SWEEP_MS } from './retention.js';
import { StorageHealth } from './storage.js';
import { Jobs, TERMINAL, type JobRow, type Finish } from './jobs.js';
import { Leases, type CommandSink } from './leases.js';
import { Nodes, type NodeRow } from './nodes.js';
import { ownerName, Owners, type Owner } from './owners.js';
import { place } from './placement.js';
import { stateInWords } from '../output.js';
import { cutLogLine, jobNameProblem } from '../names.js';
import { finite, int, keptError, resultProblem, text } from './inputs.js';

export interface SchedulerCoreOptions {
  dataDir: string;
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
  /** What each checkpoint cost its job (pause, commit, raw bytes), as its node measured it. */
  readonly imageStats: ImageStats;
  readonly #log: (line: string) => void;
  readonly #sharedEndpoint: string;
  #timer: NodeJS.Timeout | null = null;
  #lastSweep = 0;
  #placing = false;
  /** The cr version each node's agent said it runs when it last connected (for people: the dashboard). */
  readonly versions = new Map<string, string>();

  constructor(options: SchedulerCoreOptions) {
    this.#log = options.log ?? (() => undefined);
    this.db = openDb(options.dataDir);
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
    this.imageStats = new ImageStats(this.db);
    // Every write an RPC reaches: a full disk makes it a refusal with a status, and the scheduler degraded.
    const guard = <A extends unknown[], R>(what: string, status: 'UNAVAILABLE' | 'RESOURCE_EXHAUSTED', fn: (...args: A) => R) =>
      this.storage.guard(what, fn.bind(this), (message) => new SchedulerError(status, message));
    this.submit = guard('accepting the job', 'RESOURCE_EXHAUSTED', this.submit);
    for (const [name, what] of [['report', 'recording a report'], ['finish', 'recording how an attempt ended'], ['connect', 'registering a node'], ['cancel', 'cancelling a job'], ['checkpoint', 'asking for a checkpoint'], ['drain', 'draining a node'], ['deleteImages', 'removing images']] as const) {
      (this as Record<string, unknown>)[name] = guard(what, 'UNAVAILABLE', this[name] as (...args: never[]) => unknown);
    }
    // Nodes alive when the scheduler stopped keep their jobs if they reconnect within a lease.
    for (const node of this.nodes.alive()) this.leases.adopt(node.name, node.slots);
  }

  /** Lease checks and placement of jobs whose back-off has passed. */
  start(): void {
    const tick = Math.min(TICK_MS_MAX, Math.max(20, this.leases.timeoutMs / 5));
    let last = Date.now();
    this.#timer = setInterval(() => {
      const now = Date.now();
      // The scheduler itself was stalled (starved of CPU, suspended): heartbeats that arrived
      // meanwhile were not read yet, so the stall must not count against the nodes.
      if (now - last > 2 * tick) this.leases.extend(now - last - tick);
      last = now;
      this.tick(now);
    }, tick);
  }

  /**
   * One turn of the timer: lease checks, the retention sweep when due, placement, and, while
   * degraded, the check for space. Never throws: an error of the disk degrades the scheduler,
   * any other is logged, and the next tick runs as usual.
   */
  tick(now = Date.now()): void {
    const steps: [string, () => void][] = [
      ['checking leases', () => this.checkLeases(now)],
      ['recovering from a full disk', () => this.#recover()],
      ['removing finished jobs\' images', () => now - this.#lastSweep >= RETENTION_SWEEP_MS && this.sweep(now)],
      ['placing jobs', () => this.schedule(now)],
    ];
    for (const [what, step] of steps) {
      try {
        step();
      } catch (err) {
        if (!this.storage.noticed(err, what)) this.#log(`error while ${what} (the scheduler goes on): ${(err as Error)?.stack ?? String(err)}`);
      }
    }
  }

  /** Retention (retention.ts) now; logs what it removed and what it could not. */
  sweep(now = Date.now()): void {
    this.#lastSweep = now;
    const swept = this.retention.sweep(now);
    if (swept.images > 0) this.#log(`retention: removed ${swept.images} image${swept.images === 1 ? '' : 's'} (${swept.bytes} bytes) of ${swept.jobs} finished job${swept.jobs === 1 ? '' : 's'}`);
    for (const failure of swept.failed) this.#log(`retention: could not remove ${failure}`);
  }

  #recover(): void {
    this.storage.recover(
      () => this.sweep(),
      () => this.db.prepare(`INSERT INTO meta (key, value) VALUES ('storage-probe', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(String(Date.now())),
    );
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    for (const lease of this.leases.connected()) lease.sink?.end();
    this.images.close();
    this.images.shared?.close();
    this.db.close();
  }

  // --- agents ---

  connect(request: ConnectRequest, sink: CommandSink, now = Date.now()): string {
    const node = request.node ?? '';
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(node)) throw new SchedulerError('INVALID_ARGUMENT', `node name ${JSON.stringify(node)} is not valid: letters, digits, ".", "_" and "-"`);
    const slots = request.slots ?? 0;
    if (!Number.isInteger(slots) || slots < 1 || slots > 1024) throw new SchedulerError('INVALID_ARGUMENT', `slots must be from 1 to 1024, got ${slots}`);
    const session = randomUUID();
    const previous = this.leases.open(node, session, sink, slots, now);
    previous?.sink?.end();
    const row = this.nodes.register(node, slots, now);
    this.versions.set(node, String(request.version ?? '').slice(0, 64));
    const store = this.images.shared ? { imageStore: this.images.shared.location, imageStoreEndpoint: this.#sharedEndpoint } : {};
    sink.write({ registered: { session, imageKey: this.images.key, leaseTimeoutMs: this.leases.timeoutMs, heartbeatIntervalMs: Math.max(50, Math.floor(this.leases.timeoutMs / 4)), ...store } });
    // Reconcile what the agent runs with what the database says runs there.
    const reported = new Map((request.running ?? []).map((r) => [r.job ?? 0, r.attempt ?? 0]));
    const lost: { id: number; attempt: number }[] = [];
    for (const job of this.jobs.runningOn(node)) {
      if (reported.get(job.id) === job.attempt) {
        reported.delete(job.id);
        if (job.pending === 'migrate' || job.pending === 'checkpoint') this.#control(job, job.pending === 'migrate' ? 'MIGRATE' : 'CHECKPOINT');
      } else {
        lost.push({ id: job.id, attempt: job.attempt });
      }
    }
    for (const [job, attempt] of reported) sink.write({ control: { job, attempt, action: 'STALE' } });
    if (lost.length > 0) this.jobs.requeueLost(lost, `node ${node} reconnected without it`, now);
    this.#log(`node ${node} connected (${slots} slot${slots === 1 ? '' : 's'}${row.draining ? ', draining' : ''}, running ${request.running?.length ?? 0})`);
    this.schedule();
    return session;
  }

  disconnected(node: string, sink: CommandSink): void {
    this.leases.detach(node, sink);
  }

  /** `draining`: the agent is stopping; the node is drained (once) until it registers again. */
  heartbeat(node: string, session: string, now = Date.now(), draining = false): boolean {
    const known = this.leases.renew(node, session, now);
    // The lease is renewed in memory whatever the disk does; last_seen is only for people.
    try {
      if (known) this.nodes.touch(node, now);
    } catch (err) {
      if (!this.storage.noticed(err, 'recording a heartbeat')) throw err;
    }
    if (known && draining && this.nodes.get(node)?.draining === 0) {
      try {
        this.nodes.setLeaving(node);
      } catch (err) {
        // Not recorded: the next heartbeat (it says draining again) retries.
        if (!this.storage.noticed(err, 'recording a draining node')) throw err;
        return known;
      }
      this.#migrateAll(node, `node ${node} is stopping (its agent was signalled): checkpointing to move the job`);
      this.#log(`node ${node} is draining: its agent is stopping`);
    }
    return known;
  }

  /** Nodes whose lease expired are dead; their jobs go back to the queue, no retry spent. */
  checkLeases(now = Date.now()): void {
    for (const lease of this.leases.expire(now)) {
      let moved: JobRow[];
      try {
        moved = this.db.transaction(() => {
          this.nodes.setAlive(lease.node, false);
          const running = this.jobs.runningOn(lease.node).map((j) => ({ id: j.id, attempt: j.attempt }));
          return this.jobs.requeueLost(running, `node ${lease.node} missed its lease (${this.leases.timeoutMs} ms)`, now);
        })();
      } catch (err) {
        // Not recorded (a full disk): the lease stays expired in memory and is tried again at the
        // next tick; nothing changed, so its jobs are still the node's if it comes back.
        this.leases.putBack(lease);
        if (this.storage.noticed(err, `expiring the lease of node ${lease.node}`)) continue;
        throw err;
      }
      lease.sink?.end();
      this.#log(`node ${lease.node} is dead (no heartbeat for ${this.leases.timeoutMs} ms); ${moved.length} job${moved.length === 1 ? '' : 's'} back in the queue`);
    }
    if (!this.#placing) this.schedule(now);
  }

  code(sha256: string): Buffer {
    const code = this.jobs.code(sha256);
    if (code === undefined) throw new SchedulerError('NOT_FOUND', `no job code with sha256 ${sha256}`);
    return code;
  }

  report(request: Omit<ReportRequest, 'secret'>, now = Date.now()): boolean {
    const progress = request.progress !== undefined && request.progress >= 0 ? request.progress : null;
    return this.jobs.report(request.job ?? 0, request.attempt ?? 0, progress, request.message || null, (request.logs ?? []).map(cutLogLine), now);
  }

  finish(request: Omit<FinishRequest, 'secret' | 'unusableImages'> & { unusableImages?: number[] }, now = Date.now()): boolean {
    let finish: Finish;
    switch (request.outcome) {
      case 'SUCCEEDED': {
        const resultJson = request.resultJson || 'null';
        const problem = resultProblem(resultJson);
        if (problem !== null) {
          // Refused and changes nothing but the job's record of the refusal, as every refusal.
          const job = request.job ?? 0;
          this.#log(`refused Finish of job ${job} attempt ${request.attempt ?? 0}: ${problem}`);
          if (this.jobs.get(job) !== undefined) this.jobs.event(job, request.attempt ?? 0, 'event', `refused Finish: ${problem}`, now);
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
    if (unusable.length > 0 && this.jobs.isCurrent(job, request.attempt ?? 0)) {
      const { removed } = this.images.remove(job, unusable);
      if (removed.length > 0) {
        const numbers = removed.map((r) => r.sequence).join(', ');
        this.jobs.event(job, request.attempt ?? 0, 'event', `image${removed.length === 1 ? '' : 's'} ${numbers} could not be used (missing or damaged where stored): forgotten, falling back to an older image`, now);
        this.#log(`job ${job}: image${removed.length === 1 ? '' : 's'} ${numbers} missing or damaged in the store, forgotten`);
      }
    }
    const effect = this.jobs.finish(job, request.attempt ?? 0, finish, now);
    if (effect !== 'stale') this.schedule();
    return effect !== 'stale';
  }

  /** One stream of an upload (the whole image, or one part of a parallel upload). */
  async upload(header: UploadHeader, parts: AsyncIterable<{ chunk?: Buffer; sha256?: string }>): Promise<UploadResult> {
    // Once per image, however many parts carried it.
    const stored = (): void => {
      try {
        const job = this.jobs.get(header.job);
        if (job?.pending === 'checkpoint' && job.attempt === header.attempt) this.jobs.setPending(job.id, null);
        const how = (header.parts ?? 0) > 1 ? ` in ${header.parts} parts` : '';
        this.jobs.event(header.job, header.attempt, 'event', `image ${header.sequence} stored (${header.bytes} bytes${how}, from node ${header.node})`);
        const row = this.images.list(header.job).find((r) => r.sequence === header.sequence);
        this.imageStats.record(header.job, header.sequence, header.attempt, row !== undefined && (basesOf(row)?.length ?? 0) > 0, header);
      } catch (err) {
        // The image is recorded; only its event is lost.
        if (!this.storage.noticed(err, 'recording an image\'s event')) throw err;
      }
    };
    const isCurrent = (): boolean => this.jobs.isCurrent(header.job, header.attempt);
    if (header.storedSha256) return this.images.record({ ...header, storedSha256: header.storedSha256 }, isCurrent, stored);
    if (this.images.shared) return { accepted: false, stale: false, reason: `this scheduler keeps images in the shared image store ${this.images.shared.location}: write the image there and record it` };
    return this.images.receive(header, parts, isCurrent, stored);
  }

  imageFile(job: number, sequence: number): string {
    if (this.images.shared) throw new SchedulerError('FAILED_PRECONDITION', `images are in the shared image store ${this.images.shared.location}: agents read them there`);
    if (!this.images.list(job).some((r) => r.sequence === sequence)) throw new SchedulerError('NOT_FOUND', `job ${job} has no image ${sequence}`);
    return this.images.file(job, sequence);
  }

  // --- placement ---

  /** Places queued jobs on connected nodes with free slots; sends each its assignment. */
  schedule(now = Date.now()): number {
    // Degraded: no new work (a placement is a write, and a new attempt would upload images).
    if (this.#placing || this.storage.degraded !== null) return 0;
    this.#placing = true;
    try {
      const running = this.jobs.runningCounts();
      const free = new Map<string, number>();
      let total = 0;
      for (const lease of this.leases.connected()) {
        const node = this.nodes.get(lease.node);
        if (node === undefined || node.draining || !node.alive) continue;
        const n = lease.slots - (running.get(lease.node) ?? 0);
        if (n > 0) {
          free.set(lease.node, n);
          total += n;
        }
      }
      if (total === 0) return 0;
      const queued = this.jobs.placeable(now, total + this.images.committing.size).filter((j) => !this.images.committing.has(j.id));
      // Each attempt's secret is made in the transaction that starts it: no attempt runs without one.
      const started = this.db.transaction(() => this.jobs.start(place(queued, free), now).map((job) => ({ job, secret: this.attempts.issue(job.id, job.attempt, job.node!) })))();
      for (const { job, secret } of started) this.leases.get(job.node!)?.sink?.write({ assign: { ...this.#assignment(job), secret } });
      return started.length;
    } finally {
      this.#placing = false;
    }
  }

  #assignment(job: JobRow): Assignment {
    const plan = this.images.restorePlan(job.id);
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

  submit(request: SubmitRequest, owner: Owner | null = null, now = Date.now()): JobInfo {
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
    const row = this.db.transaction(() => {
      const submitted = this.jobs.submit(
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
      if (owner !== null) this.owners.record(submitted.id, owner);
      return submitted;
    })();
    this.schedule(now);
    return this.jobInfo(this.jobs.get(row.id)!);
  }

  job(id: number): JobRow {
    const job = this.jobs.get(id);
    if (job === undefined) throw new SchedulerError('NOT_FOUND', `no job ${id}: "cr-scheduler list" shows the jobs`);
    return job;
  }

  /** A job as the CLI gets it: whatever a row holds (a value written by hand, a bad disk), each field has its type. */
  jobInfo(job: JobRow): JobInfo {
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
      images: this.images.count(job.id),
      moves: int(job.moves),
      owner: ownerName(this.owners.of(job.id)),
    };
  }

  cancel(id: number): JobInfo {
    this.job(id);
    const { before, after } = this.jobs.cancel(id)!;
    if (before.state === 'running') this.#control(before, 'CANCEL');
    return this.jobInfo(after);
  }

  checkpoint(id: number): JobInfo {
    const job = this.job(id);
    if (job.state !== 'running') throw new SchedulerError('FAILED_PRECONDITION', `job ${id} ${stateInWords(job.state)}: only a running job can take a checkpoint`);
    if (job.pending !== 'migrate') this.jobs.setPending(id, 'checkpoint');
    this.#control(job, 'CHECKPOINT');
    return this.jobInfo(this.jobs.get(id)!);
  }

  drain(name: string, undo = false): NodeInfo {
    if (this.nodes.get(name) === undefined) throw new SchedulerError('NOT_FOUND', `no node ${JSON.stringify(name)}: "cr-scheduler nodes" lists them`);
    this.nodes.setDraining(name, !undo);
    if (!undo) {
      this.#migrateAll(name, `node ${name} is draining: checkpointing to move the job`);
      this.#log(`node ${name} is draining`);
    } else {
      this.schedule();
    }
    return this.nodeInfo(this.nodes.get(name)!);
  }

  /** Each job running on `node` checkpoints at its next safe point, stops, and goes back to the queue. */
  #migrateAll(node: string, why: string): void {
    for (const job of this.jobs.runningOn(node)) {
      this.jobs.setPending(job.id, 'migrate');
      this.jobs.event(job.id, job.attempt, 'event', why);
      this.#control(job, 'MIGRATE');
    }
  }

  nodeInfo(node: NodeRow, running = this.jobs.runningCounts()): NodeInfo {
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
  deleteImages(id: number): ImageInfo[] {
    const job = this.job(id);
    if (!TERMINAL.includes(job.state)) {
      throw new SchedulerError('FAILED_PRECONDITION', `job ${id} is ${job.state}: its images are what it resumes from; cancel it first ("cr-scheduler cancel ${id}") to remove them`);
    }
    const images = this.listImages(id);
    const { failed } = this.images.remove(id);
    this.jobs.event(id, job.attempt, 'event', `${images.length} image${images.length === 1 ? '' : 's'} removed on request`);
    for (const failure of failed) this.#log(`images of job ${id}: could not remove ${failure}`);
    return images;
  }

  listNodes(): NodeInfo[] {
    const running = this.jobs.runningCounts();
    return this.nodes.list().map((n) => this.nodeInfo(n, running));
  }

  listImages(id: number): ImageInfo[] {
    this.job(id);
    return this.images.list(id).map((r) => ({
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
