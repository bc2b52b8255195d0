// What each checkpoint cost its job, as the node that took it measured it: the bytes of state
// and region data the image holds (its compression ratio against the image's size), the job's
// pause in checkpoint(), and the time from the pause to the durable image on the node. For
// people (the dashboard's timeline); nothing is decided from them. Kept apart from `images`,
// whose rows retention removes: the timeline shows every checkpoint a job took.
import type { Db } from './db.js';

export interface ImageStat {
  sequence: number;
  attempt: number;
  /** 0 when the node did not say (an older agent). */
  rawBytes: number;
  pauseMs: number;
  commitMs: number;
  /** Shares blocks with older images (its record in `images` may be gone). */
  incremental: boolean;
}

/** A figure a node reported: a finite number from 0 up, else 0 (unknown). */
function figure(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0;
}

export class ImageStats {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async record(job: number, sequence: number, attempt: number, incremental: boolean, stat: { rawBytes?: unknown; pauseMs?: unknown; commitMs?: unknown }): Promise<void> {
    const values = { raw_bytes: Math.round(figure(stat.rawBytes)), pause_ms: figure(stat.pauseMs), commit_ms: figure(stat.commitMs), incremental: incremental ? 1 : 0, attempt };
    await this.#db.write(() =>
      this.#db.q
        .insertInto('image_stats')
        .values({ job, sequence, ...values })
        .onConflict((c) => c.columns(['job', 'sequence']).doUpdateSet(values))
        .execute(),
    );
  }

  async of(job: number): Promise<ImageStat[]> {
    const rows = await this.#db.q
      .selectFrom('image_stats')
      .select(['sequence', 'attempt', 'raw_bytes', 'pause_ms', 'commit_ms', 'incremental'])
      .where('job', '=', job)
      .orderBy('sequence')
      .execute();
    return rows.map((r) => ({ sequence: r.sequence, attempt: r.attempt, rawBytes: Number(r.raw_bytes), pauseMs: r.pause_ms, commitMs: r.commit_ms, incremental: r.incremental === 1 }));
  }
}
