// Node records: name, slots, whether the node is alive (its lease held when last decided) and
// whether it is draining (takes no new work): by an admin's `drain` (until `drain --undo`), or
// because its agent is stopping (until the node registers again). Leases themselves live in memory (leases.ts):
// after a restart of the scheduler every node gets one fresh lease to reconnect in.
import type { Db } from './db.js';
import type { NodeRow } from './schema.js';

/** `nodes.draining`: 0 no, 1 drained by an admin, 2 its agent is stopping (ends when it registers again). */
export const DRAINED_BY_ADMIN = 1;
export const DRAINED_LEAVING = 2;

export type { NodeRow };

export class Nodes {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async register(name: string, slots: number, now = Date.now()): Promise<NodeRow> {
    await this.#db.write(() =>
      this.#db.q
        .insertInto('nodes')
        .values({ name, slots, alive: 1, registered_at: now, last_seen: now })
        .onConflict((oc) =>
          oc.column('name').doUpdateSet((eb) => ({
            slots: eb.ref('excluded.slots'),
            alive: 1,
            last_seen: eb.ref('excluded.last_seen'),
            draining: eb.case().when('nodes.draining', '=', DRAINED_LEAVING).then(0).else(eb.ref('nodes.draining')).end(),
          })),
        )
        .execute(),
    );
    return (await this.get(name))!;
  }

  get(name: string): Promise<NodeRow | undefined> {
    return this.#db.q.selectFrom('nodes').selectAll().where('name', '=', name).executeTakeFirst();
  }

  list(): Promise<NodeRow[]> {
    return this.#db.q.selectFrom('nodes').selectAll().orderBy('name').execute();
  }

  alive(): Promise<NodeRow[]> {
    return this.#db.q.selectFrom('nodes').selectAll().where('alive', '=', 1).orderBy('name').execute();
  }

  async touch(name: string, now = Date.now()): Promise<void> {
    await this.#set(name, { last_seen: now });
  }

  async setAlive(name: string, alive: boolean): Promise<void> {
    await this.#set(name, { alive: alive ? 1 : 0 });
  }

  async setDraining(name: string, draining: boolean): Promise<void> {
    await this.#set(name, { draining: draining ? DRAINED_BY_ADMIN : 0 });
  }

  /** The node's agent is stopping; an admin's drain, if any, stays as it is. */
  async setLeaving(name: string): Promise<void> {
    await this.#db.write(() => this.#db.q.updateTable('nodes').set({ draining: DRAINED_LEAVING }).where('name', '=', name).where('draining', '=', 0).execute());
  }

  async #set(name: string, values: { last_seen?: number; alive?: number; draining?: number }): Promise<void> {
    await this.#db.write(() => this.#db.q.updateTable('nodes').set(values).where('name', '=', name).execute());
  }
}
