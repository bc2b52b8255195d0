// Dispatch: queued jobs onto connected nodes' free slots. The free slots come from the leases,
// the choice from placement.ts, the images to restore from the image store's restore plan; each
// attempt starts with its secret, in one transaction, and its node is sent the assignment.
import type { Assignment } from '../proto/types.js';
import type { CoreParts } from './core-parts.js';
import type { JobRow } from './jobs.js';
import { place } from './placement.js';
import type { ImageRow } from './schema.js';

export class Dispatch {
  readonly #core: Omit<CoreParts, 'schedule' | 'placing'>;
  #placing = false;
  #placeAgain = false;

  constructor(core: Omit<CoreParts, 'schedule' | 'placing'>) {
    this.#core = core;
  }

  /** Whether a placement is under way. */
  get placing(): boolean {
    return this.#placing;
  }

  /** Places queued jobs on connected nodes with free slots; sends each its assignment. */
  async schedule(now = Date.now()): Promise<number> {
    const { storage } = this.#core;
    // Degraded: no new work (a placement is a write, and a new attempt would upload images).
    if (storage.degraded !== null) return 0;
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
      } while (this.#placeAgain && storage.degraded === null);
      return placed;
    } finally {
      this.#placing = false;
    }
  }

  async #place(now: number): Promise<number> {
    const { attempts, db, images, jobs, leases, nodes } = this.#core;
    const connected = leases.connected();
    if (connected.length === 0) return 0;
    const running = await jobs.runningCounts();
    // One read of the nodes per placement, not one per connected node.
    const rows = new Map((await nodes.list()).map((n) => [n.name, n]));
    const free = new Map<string, number>();
    let total = 0;
    for (const lease of connected) {
      const node = rows.get(lease.node);
      if (node === undefined || node.draining || !node.alive) continue;
      const n = lease.slots - (running.get(lease.node) ?? 0);
      if (n > 0) {
        free.set(lease.node, n);
        total += n;
      }
    }
    if (total === 0) return 0;
    const queued = (await jobs.placeable(now, total + images.committing.size)).filter((j) => !images.committing.has(j.id));
    if (queued.length === 0) return 0;
    // Each attempt's secret is made in the transaction that starts it: no attempt runs without one.
    const started = await db.write(async () => {
      const startedJobs = await jobs.start(place(queued, free), now);
      const secrets = await attempts.issueAll(startedJobs.map((job) => ({ job: job.id, attempt: job.attempt, node: job.node! })));
      return startedJobs.map((job, i) => ({ job, secret: secrets[i]! }));
    });
    const known = await images.listMany(started.map(({ job }) => job.id));
    for (const { job, secret } of started) {
      const assignment = await this.#assignment(job, known.get(job.id));
      leases.get(job.node!)?.sink?.write({ assign: { ...assignment, secret } });
    }
    this.#core.metrics.placements.inc(started.length);
    return started.length;
  }

  async #assignment(job: JobRow, images?: ImageRow[]): Promise<Assignment> {
    const plan = await this.#core.images.restorePlan(job.id, images);
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
}
