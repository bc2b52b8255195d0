// What the parts of the scheduler's core share (node-sessions.ts, dispatch.ts, attempt-calls.ts,
// job-requests.ts): the records, the nodes' leases, the scheduler's own health, and placement.
// SchedulerCore (scheduler.ts) is the one implementation; each part sees no more than this.
import type { AttemptGuard } from './attempt-guard.js';
import type { Db } from './db.js';
import type { ImageStats } from './image-stats.js';
import type { ImageStore } from './images.js';
import type { Jobs } from './jobs.js';
import type { Leases } from './leases.js';
import type { SchedulerMetrics } from './metrics.js';
import type { Nodes } from './nodes.js';
import type { Owners } from './owners.js';
import type { StorageHealth } from './storage.js';

export interface CoreParts {
  readonly db: Db;
  readonly jobs: Jobs;
  readonly nodes: Nodes;
  readonly images: ImageStore;
  readonly leases: Leases;
  readonly attempts: AttemptGuard;
  readonly owners: Owners;
  readonly storage: StorageHealth;
  readonly metrics: SchedulerMetrics;
  readonly imageStats: ImageStats;
  /** One line per thing worth telling an operator. */
  readonly log: (line: string) => void;
  /** Places queued jobs on free slots now (dispatch.ts). */
  schedule(now?: number): Promise<number>;
  /** Whether a placement is under way. */
  readonly placing: boolean;
}
