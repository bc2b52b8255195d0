// Which scheduler leads: the one decision, for every `serve` on one database. The lead is a
// lease row (`leader`, id 1) with an epoch that only grows, taken and renewed with the
// DATABASE's clock (PostgreSQL's clock_timestamp(), SQLite's julianday('now') on the host that
// holds the file), never a scheduler host's: hosts' clocks may disagree, the database's is one.
//
// - A scheduler takes the lead when the lease has expired (or its holder is a process of this
//   host that no longer exists: a killed single `serve` restarts without waiting a lease), with
//   epoch + 1; the leader renews it every third of the lease under the same epoch.
// - Every state-changing transaction (db.ts `write`) starts with the fence below: the row's
//   epoch and holder must still be ours. PostgreSQL reads the row FOR SHARE, so a takeover
//   (an UPDATE of that row) waits for the transaction to end; SQLite's transactions hold the
//   file's write lock from their BEGIN IMMEDIATE. So a leader that was paused past its lease
//   (SIGSTOP, a VM migration, a network cut) and comes back writes nothing: its first write
//   fails the fence, and it steps down, says so, and stands by. One paused INSIDE a transaction
//   would hold that lock for as long as it is paused: PostgreSQL ends such a transaction after a
//   lease idle (db.ts idleInTransactionMs); SQLite's file has no such limit (the standbys of one
//   host wait for it: docs/high-availability.md).
// - Standbys answer reads and refuse writes with the leader's address (service.ts).
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { sql, type Kysely } from 'kysely';
import { DEFAULT_LEADER_LEASE_MS } from '../names.js';
import type { Db } from './db.js';
import type { Schema } from './schema.js';
import { isStorageError } from './storage.js';


export { DEFAULT_LEADER_LEASE_MS };

/** A write reached a scheduler that does not lead. The service answers UNAVAILABLE with `cr-leader` metadata. */
export class NotLeaderError extends Error {
  readonly code = 'CR_NOT_LEADER';
  constructor(readonly leader: string | null) {
    super(
      leader
        ? `this scheduler is a standby; the leader is at ${leader}`
        : 'this scheduler is a standby; no scheduler leads right now (a standby takes the lead within one lease)',
    );
  }
}

export interface LeadershipOptions {
  /** Where clients reach this scheduler (`serve --advertise`): what standbys tell writers. */
  address: string;
  leaseMs?: number;
  log?: (line: string) => void;
  /** Called when this scheduler takes the lead, before it acts as leader. */
  onLead?: (epoch: number) => Promise<void> | void;
  /** Called when it loses the lead (it stands by from now on). */
  onStandby?: (why: string) => void;
}

/** host:pid:random — which process holds the lease, for messages and for a dead local holder. */
function holderId(): string {
  return `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/** Whether `holder` names a process of this host that no longer exists. */
function deadHere(holder: string): boolean {
  const [host, pid] = holder.split(':');
  if (host !== os.hostname() || !/^\d+$/.test(pid ?? '') || Number(pid) === process.pid) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export class Leadership {
  readonly holder = holderId();
  #address: string;
  readonly leaseMs: number;
  readonly #db: Db;
  readonly #log: (line: string) => void;
  readonly #onLead: (epoch: number) => Promise<void> | void;
  readonly #onStandby: (why: string) => void;
  /** Our epoch while we lead; null on standby. */
  #epoch: number | null = null;
  /** The leader's address as last read (null: none known). */
  #leader: string | null = null;
  /** When the last renewal that succeeded was sent (this host's monotonic clock, only to measure our own lease). */
  #renewedAt = 0;
  #timer: NodeJS.Timeout | null = null;
  #round: Promise<boolean> | null = null;

  constructor(db: Db, options: LeadershipOptions) {
    this.#db = db;
    this.#address = options.address;
    this.leaseMs = options.leaseMs ?? DEFAULT_LEADER_LEASE_MS;
    this.#log = options.log ?? (() => undefined);
    this.#onLead = options.onLead ?? (() => undefined);
    this.#onStandby = options.onStandby ?? (() => undefined);
    db.setFence((q) => this.#fence(q));
  }

  get leading(): boolean {
    return this.#epoch !== null;
  }

  get epoch(): number | null {
    return this.#epoch;
  }

  /** The leader's address: ours while we lead. */
  get leader(): string | null {
    return this.#epoch !== null ? this.#address : this.#leader;
  }

  get address(): string {
    return this.#address;
  }

  /** The address to advertise from the next round on (known once the server listens). */
  advertise(address: string): void {
    this.#address = address;
  }

  /** Throws NotLeaderError unless this scheduler leads (a refusal before any work). */
  mustLead(): void {
    if (this.#epoch === null) throw new NotLeaderError(this.#leader);
  }

  /** Rounds every third of the lease, from now on. */
  start(): void {
    const every = Math.max(50, Math.floor(this.leaseMs / 3));
    void this.round();
    this.#timer = setInterval(() => void this.round(), every);
  }

  /** One round: take or renew the lease. Resolves with whether this scheduler leads. Never rejects. */
  round(): Promise<boolean> {
    this.#round ??= this.#takeOrRenew().finally(() => {
      this.#round = null;
    });
    return this.#round;
  }

  async #takeOrRenew(): Promise<boolean> {
    const sent = performance.now();
    const mine = this.#epoch ?? -1;
    let won: number | null = null;
    try {
      won = await this.#db.unfenced(async () => {
        const q = this.#db.q;
        const row = await q.selectFrom('leader').select(['epoch', 'holder', 'address', sql<number>`expires_at - ${this.#db.nowMs}`.as('left')]).where('id', '=', 1).executeTakeFirstOrThrow();
        const ours = row.holder === this.holder && Number(row.epoch) === mine;
        const free = Number(row.left) < 0 || row.holder === '' || deadHere(row.holder);
        if (!ours && !free) {
          this.#leader = row.address;
          return null;
        }
        const epoch = ours ? mine : Number(row.epoch) + 1;
        // Only if the row is as read: two standbys that both saw it expire cannot both win.
        const { numUpdatedRows } = await q
          .updateTable('leader')
          .set({ epoch, holder: this.holder, address: this.#address, expires_at: sql<number>`${this.#db.nowMs} + ${this.leaseMs}` })
          .where('id', '=', 1)
          .where('epoch', '=', Number(row.epoch))
          .where('holder', '=', row.holder)
          .executeTakeFirst();
        return Number(numUpdatedRows) === 1 ? epoch : null;
      });
    } catch (err) {
      // The database's disk is full or failing: no standby can write to take over either, so a
      // leader stays one (degraded: storage.ts) and its fenced writes still check the epoch once
      // writes succeed again.
      if (isStorageError(err)) return this.#epoch !== null;
      // The database cannot be reached: a leader whose own lease has run out since its last
      // renewal stops acting as one (a standby may lead by now); a standby just tries again.
      if (this.#epoch !== null && performance.now() - this.#renewedAt > this.leaseMs) {
        this.stepDown(`its lease could not be renewed for ${this.leaseMs} ms (${(err as Error).message})`, null);
      }
      return this.#epoch !== null;
    }
    if (won === null) {
      if (this.#epoch !== null) this.stepDown(`another scheduler leads now (at ${this.#leader})`, this.#leader);
      return false;
    }
    this.#renewedAt = sent;
    if (this.#epoch !== won) {
      if (this.#epoch !== null) this.stepDown(`its epoch ${this.#epoch} was taken over`, null);
      try {
        await this.#onLead(won);
      } catch (err) {
        this.#log(`could not take the lead (${(err as Error).message}); standing by`);
        return false;
      }
      this.#epoch = won;
      this.#log(`leading (epoch ${won}, lease ${this.leaseMs / 1000} s, advertised as ${this.#address})`);
    }
    return true;
  }

  /** The check every write makes first, inside its transaction. */
  async #fence(q: Kysely<Schema>): Promise<void> {
    const epoch = this.#epoch;
    if (epoch === null) throw new NotLeaderError(this.#leader);
    let select = q.selectFrom('leader').select(['epoch', 'holder', 'address']).where('id', '=', 1);
    if (this.#db.dialect === 'postgres') select = select.forShare();
    const row = await select.executeTakeFirstOrThrow();
    if (Number(row.epoch) === epoch && row.holder === this.holder) return;
    this.stepDown(`a write found epoch ${row.epoch} held by ${row.holder || 'nobody'}, not its own ${epoch}: it wrote nothing`, row.address || null);
    throw new NotLeaderError(this.#leader);
  }

  /** Stops acting as leader (logged once); the rounds go on, so it may lead again later with a new epoch. */
  stepDown(why: string, leader: string | null): void {
    if (leader !== null) this.#leader = leader;
    if (this.#epoch === null) return;
    const epoch = this.#epoch;
    this.#epoch = null;
    this.#log(`stepped down from epoch ${epoch}: ${why}; standing by`);
    this.#onStandby(why);
  }

  /**
   * Stops the rounds; a leader gives its lease up (expires it now), so that a standby, or this
   * scheduler started again, leads at once instead of after a lease.
   */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#round?.catch(() => undefined);
    if (this.#epoch === null) return;
    const epoch = this.#epoch;
    this.#epoch = null;
    await this.#db
      .unfenced(() => this.#db.q.updateTable('leader').set({ expires_at: 0 }).where('id', '=', 1).where('holder', '=', this.holder).where('epoch', '=', epoch).execute())
      .catch(() => undefined);
  }
}
