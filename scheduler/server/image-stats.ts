// What each checkpoint cost its job, as the node that took it measured it: the bytes of state
// and region data the image holds (its compression ratio against the image's size), the job's
// pause in checkpoint(), and the time from the pause to the durable image on the node. For
// people (the dashboard's timeline); nothing is decided from them. Kept apart from `images`,
// whose rows retention removes: the timeline shows every checkpoint a job took.
import type { Db } from './db.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS image_stats (
  job INTEGER NOT NULL,
  sequence INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  raw_bytes INTEGER NOT NULL,
  pause_ms REAL NOT NULL,
  commit_ms REAL NOT NULL,
  incremental INTEGER NOT NULL,
  PRIMARY KEY (job, sequence)
);`;

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
    db.exec(SCHEMA);
  }

  record(job: number, sequence: number, attempt: number, incremental: boolean, stat: { rawBytes?: unknown; pauseMs?: unknown; commitMs?: unknown }): void {
    this.#db
      .prepare(`INSERT OR REPLACE INTO image_stats (job, sequence, attempt, raw_bytes, pause_ms, commit_ms, incremental) VALUES (?, ?, ?, ?, ?, ?, ?)`)
      .run(job, sequence, attempt, Math.round(figure(stat.rawBytes)), figure(stat.pauseMs), figure(stat.commitMs), incremental ? 1 : 0);
  }

  of(job: number): ImageStat[] {
    return this.#db
      .prepare(`SELECT sequence, attempt, raw_bytes AS rawBytes, pause_ms AS pauseMs, commit_ms AS commitMs, incremental FROM image_stats WHERE job = ? ORDER BY sequence`)
      .all(job)
      .map((r) => ({ ...(r as ImageStat), incremental: (r as { incremental: number }).incremental === 1 }));
  }
}
