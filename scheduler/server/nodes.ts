// Node records: name, slots, whether the node is alive (its lease held when last decided) and
// whether it is draining (takes no new work). Leases themselves live in memory (leases.ts):
// after a restart of the scheduler every node gets one fresh lease to reconnect in.
import type { Db } from './db.js';

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
         ON CONFLICT (name) DO UPDATE SET slots = excluded.slots, alive = 1, last_seen = excluded.last_seen`,
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
    this.#db.prepare(`UPDATE nodes SET draining = ? WHERE name = ?`).run(draining ? 1 : 0, name);
  }
}
