// Leases: a node is alive while it renews its lease (heartbeats) within the timeout. Kept in
// memory: after a restart of the scheduler every node it knew as alive gets one fresh lease, in
// which its agent reconnects on its own; a node that does not is then presumed dead like any other.
import { AGENT_RECONNECT_MAX_MS } from '../names.js';
import type { Command } from '../proto/types.js';

/** Where the scheduler sends a connected node its work (a gRPC server stream in service.ts). */
export interface CommandSink {
  write(command: Command): void;
  end(): void;
}

export interface Lease {
  node: string;
  /** Null until the node's agent (re)connects after a restart of the scheduler. */
  session: string | null;
  sink: CommandSink | null;
  slots: number;
  deadline: number;
}

export class Leases {
  readonly timeoutMs: number;
  readonly #leases = new Map<string, Lease>();

  constructor(timeoutMs: number) {
    this.timeoutMs = timeoutMs;
  }

  /**
   * A node known alive before a restart: it has one lease, plus the longest pause an agent
   * makes between two reconnection tries, to reconnect.
   */
  adopt(node: string, slots: number, now = Date.now()): void {
    this.#leases.set(node, { node, session: null, sink: null, slots, deadline: now + this.timeoutMs + AGENT_RECONNECT_MAX_MS });
  }

  /** A new session; the node's previous one (if any) is returned so that it can be ended. */
  open(node: string, session: string, sink: CommandSink, slots: number, now = Date.now()): Lease | undefined {
    const previous = this.#leases.get(node);
    this.#leases.set(node, { node, session, sink, slots, deadline: now + this.timeoutMs });
    return previous;
  }

  /** Renews the lease of the session; false when that session is over. */
  renew(node: string, session: string, now = Date.now()): boolean {
    const lease = this.#leases.get(node);
    if (lease === undefined || lease.session !== session) return false;
    lease.deadline = now + this.timeoutMs;
    return true;
  }

  /** The stream of a session closed; the lease itself runs on (the agent may be reconnecting). */
  detach(node: string, sink: CommandSink): void {
    const lease = this.#leases.get(node);
    if (lease?.sink === sink) lease.sink = null;
  }

  get(node: string): Lease | undefined {
    return this.#leases.get(node);
  }

  connected(): Lease[] {
    return [...this.#leases.values()].filter((l) => l.sink !== null);
  }

  /** Tells the node running an attempt what to do with it (if its agent is connected). */
  control(job: { id: number; attempt: number; node: string | null }, action: 'CHECKPOINT' | 'MIGRATE' | 'CANCEL' | 'STALE'): void {
    if (job.node) this.#leases.get(job.node)?.sink?.write({ control: { job: job.id, attempt: job.attempt, action } } satisfies Command);
  }

  /** Pushes every deadline back by `ms` (the scheduler was not listening for that long). */
  extend(ms: number): void {
    for (const lease of this.#leases.values()) lease.deadline += ms;
  }

  /**
   * An expired lease whose expiry could not be recorded: back, still expired, so the next check
   * tries again; unless the node opened a new session meanwhile.
   */
  putBack(lease: Lease): void {
    if (!this.#leases.has(lease.node)) this.#leases.set(lease.node, lease);
  }

  /** Forgets every lease (this scheduler stopped leading). */
  clear(): void {
    this.#leases.clear();
  }

  /** Removes and returns the leases that expired. */
  expire(now = Date.now()): Lease[] {
    const expired: Lease[] = [];
    for (const lease of this.#leases.values()) if (lease.deadline < now) expired.push(lease);
    for (const lease of expired) this.#leases.delete(lease.node);
    return expired;
  }
}
