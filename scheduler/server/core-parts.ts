// What the scheduler's core holds, and what its parts (node-sessions.ts, dispatch.ts,
// attempt-calls.ts, job-requests.ts) share: the records, the nodes' leases, the scheduler's own
// health and metrics. SchedulerCore (scheduler.ts) is the one subclass: it adds leadership, the
// timer and the calls, and gives the four acts the parts may ask of it.
import path from 'node:path';
import type { NodeInfo } from '../proto/types.js';
import type { SharedStore } from '../images/store.js';
import { AttemptGuard } from './attempt-guard.js';
import type { Db } from './db.js';
import { ImageStats } from './image-stats.js';
import { ImageStore, type ImageStoreOptions } from './images.js';
import { Jobs } from './jobs.js';
import { Leases } from './leases.js';
import { SchedulerMetrics } from './metrics.js';
import { Nodes } from './nodes.js';
import { Owners } from './owners.js';
import { StorageHealth } from './storage.js';

/** The upload limits and tunings are the image store's (images.ts). */
export interface CorePartsOptions extends Pick<ImageStoreOptions, 'uploadIdleTimeoutMs' | 'flushBehindBytes' | 'directMinBytes' | 'maxImageBytes' | 'maxJobImageBytes' | 'minUploadBytesPerS'> {
  dataDir: string;
  /** A node not heard from for this long is presumed dead, ms. */
  leaseTimeoutMs: number;
  /** Called with one line per thing worth telling an operator. */
  log?: (line: string) => void;
  /** An upload's rate is averaged over this window, ms (images.ts's rateWindowMs). */
  uploadRateWindowMs?: number;
  /** Free space wanted on the data directory's disk before new work is taken again after it was full (storage.ts). */
  storageReserveBytes?: number;
  /** The shared image store agents write images to and read them from (`--images`); default none: over gRPC to <data>/images. */
  sharedImages?: SharedStore | null;
}

export abstract class CoreParts {
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
  /** Prometheus metrics (metrics.ts); served by the HTTP listener. */
  readonly metrics: SchedulerMetrics;
  /** What each checkpoint cost its job (pause, commit, raw bytes), as its node measured it. */
  readonly imageStats: ImageStats;
  /** One line per thing worth telling an operator. */
  readonly log: (line: string) => void;

  protected constructor(db: Db, options: CorePartsOptions) {
    this.log = options.log ?? (() => undefined);
    this.db = db;
    this.storage = new StorageHealth(options.dataDir, this.log, options.storageReserveBytes);
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
      log: this.log,
    });
    this.leases = new Leases(options.leaseTimeoutMs);
    this.attempts = new AttemptGuard(this.db, this.jobs, this.log);
    this.owners = new Owners(this.db, this.jobs, this.log);
    this.metrics = new SchedulerMetrics({ jobsByState: () => this.jobs.countByState(), nodeStates: () => this.listNodes() });
    this.imageStats = new ImageStats(this.db);
  }

  /** Places queued jobs on free slots now (dispatch.ts). */
  abstract schedule(now?: number): Promise<number>;
  /** Whether a placement is under way. */
  abstract get placing(): boolean;
  /** Retention now (the image store asks for it when its disk is short of room). */
  abstract sweep(now?: number): Promise<void>;
  abstract listNodes(): Promise<NodeInfo[]>;
}
