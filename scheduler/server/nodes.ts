// Node records: name, slots, whether the node is alive (its lease held when last decided) and
// whether it is draining (takes no new work): by an admin's `drain` (until `drain --undo`), or
// because its agent is stopping (until the node registers again). Leases themselves live in memory (leases.ts):
// after a restart of the scheduler every node gets one fresh lease to reconnect in.
import type { Db } from './db.js';

/** `nodes.draining`: 0 no, 1 drained by an admin, 2 its agent is stopping (ends when it registers again). */
export const DRAINED_BY_ADMIN = 1;
export const DRAINED_LEAVING = 2;

export interface NodeRow {
  name: string;
  slots: number;
  alive: number;
  draining: number;
  registered_at: number;
  last_seen: number;
}

export class Nodes {
  readonly #db: Db;
  readonly #touch;

  constructor(db: Db) {
    this.#db = db;
    this.#touch = db.prepare(`UPDATE nodes SET last_seen = ? WHERE name = ?`);
  }

  register(name: string, slots: number, now = Date.now()): NodeRow {
    this.#db
      .prepare(
        `INSERT INTO nodes (name, slots, alive, registered_at, last_seen) VALUES (?, ?, 1, ?, ?)
         ON CONFLICT (name) DO UPDATE SET slots = excluded.slots, alive = 1, last_seen = excluded.last_seen,
           draining = CASE WHEN draining = ${DRAINED_LEAVING} THEN 0 ELSE draining END`,
      )
      .run(name, slots, now, now);
    return this.get(name)!;
  }

  get(name: string): NodeRow | undefined {
    return this.#db.prepare<[string], NodeRow>(`SELECT * FROM nodes WHERE name = ?`).get(name);
  }

  list(): NodeRow[] {
    return this.#db.prepare<[], NodeRow>(`SELECT * FROM nodes ORDER BY name`).all();
  }

  alive(): NodeRow[] {
    return this.#db.prepare<[], NodeRow>(`SELECT * FROM nodes WHERE alive = 1 ORDER BY name`).all();
  }

  touch(name: string, now = Date.now()): void {
    this.#touch.run(now, name);
  }

  setAlive(name: string, alive: boolean): void {
    this.#db.prepare(`UPDATE nodes SET alive = ? WHERE name = ?`).run(alive ? 1 : 0, name);
  }

  setDraining(name: string, draining: boolean): void {
    this.#db.prepare(`UPDATE nodes SET draining = ? WHERE name = ?`).run(draining ? DRAINED_BY_ADMIN : 0, name);
  }

  /** The node's agent is stopping; an admin's drain, if any, stays as it is. */
  setLeaving(name: string): void {
    this.#db.prepare(`UPDATE nodes SET draining = ${DRAINED_LEAVING} WHERE name = ? AND draining = 0`).run(name);
  }
}
