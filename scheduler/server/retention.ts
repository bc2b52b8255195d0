// Retention of finished jobs' images. A job that ended (succeeded, failed, cancelled) is never
// resumed, so its images serve only to be looked at or fetched (`images JOB`): at each sweep it
// keeps its newest restorable image (with the bases that image needs) and loses the older ones;
// once `keepFinishedMs` has passed since it ended, it loses them all. Jobs that have not ended
// keep what the image store's own retention keeps (their newest images and their bases).
// The sweep runs periodically, and at once when the disk is full, before anything is refused.
import type { Db } from './db.js';
import type { ImageStore } from './images.js';
import { TERMINAL } from './jobs.js';

/** Finished jobs keep their images this long (`--keep-finished`), ms. */
export const DEFAULT_KEEP_FINISHED_MS = 7 * 24 * 3600 * 1000;
/** How often the sweep runs, ms. */
export const RETENTION_SWEEP_MS = 60_000;

export interface SweepResult {
  jobs: number;
  images: number;
  bytes: number;
  /** Files that could not be removed (their records are gone; an operator may remove them). */
  failed: string[];
}

export class Retention {
  readonly #db: Db;
  readonly #images: ImageStore;
  readonly keepFinishedMs: number;

  constructor(db: Db, images: ImageStore, keepFinishedMs = DEFAULT_KEEP_FINISHED_MS) {
    this.#db = db;
    this.#images = images;
    this.keepFinishedMs = keepFinishedMs;
  }

  /** Removes what retention allows now. */
  async sweep(now = Date.now()): Promise<SweepResult> {
    const result: SweepResult = { jobs: 0, images: 0, bytes: 0, failed: [] };
    const ended = await this.#db.q
      .selectFrom('jobs as j')
      .innerJoin('images as i', 'i.job', 'j.id')
      .select(['j.id as id', 'j.finished_at as finished'])
      .distinct()
      .where('j.state', 'in', TERMINAL)
      .execute();
    for (const { id, finished } of ended) {
      const expired = typeof finished !== 'number' || !(finished + this.keepFinishedMs > now);
      let sequences: number[] | undefined;
      if (!expired) {
        const keep = new Set((await this.#images.restorePlan(id)).map((r) => r.sequence));
        sequences = (await this.#images.list(id)).filter((r) => !keep.has(r.sequence)).map((r) => r.sequence);
        if (sequences.length === 0) continue;
      }
      const { removed, failed } = await this.#images.remove(id, sequences);
      result.jobs++;
      result.images += removed.length;
      result.bytes += removed.reduce((sum, r) => sum + r.bytes, 0);
      result.failed.push(...failed);
    }
    return result;
  }
}
