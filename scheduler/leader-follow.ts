// Which scheduler to talk to, when several `serve` processes share one database: one leads, the
// others stand by, answer reads and refuse writes with UNAVAILABLE and the leader's address in
// the trailing metadata `cr-leader` (docs/high-availability.md). The CLI and the agent both
// decide here: what an answer says about the scheduler that gave it (classify), where to go
// next (SchedulerSet.next), and, for one call, trying the addresses in that order (followCall).
import * as grpc from '@grpc/grpc-js';
import { NoSchedulerError } from './cluster-errors.js';
import type { ClientCredentials } from './credentials.js';
import { READ_RPCS, schedulerClient, transferClients, unary, type SchedulerClient, type UnaryRpcs } from './proto/load.js';

/** The trailing metadata in which a standby names the leader (host:port; empty while it knows none). */
export const LEADER_METADATA = 'cr-leader';
/** How a standby's refusal begins (the contract's message; a standby of an older build may send no metadata). */
const STANDBY_MESSAGE = 'this scheduler is a standby';

/**
 * Writes that must not be sent again when a scheduler went away after it may have received
 * them: a second Submit would be a second job, a second CreateToken a second token. The others
 * (cancel, drain, an attempt's reports, fenced by its secret) mean the same when repeated.
 */
const NOT_REPEATABLE: ReadonlySet<keyof UnaryRpcs> = new Set(['Submit', 'CreateToken', 'Join', 'Renew']);

/** What a failed call says about the scheduler that was asked. */
export type Refusal =
  /** No connection could be made (nothing listens, the host is down): the call was never sent. */
  | { kind: 'unreachable'; said: string }
  /** A standby: the call was not carried out; `leader` is where the standby says the leader is (null: it knows none). */
  | { kind: 'standby'; leader: string | null; said: string }
  /** The connection broke or the deadline passed with the call sent: it may or may not have been carried out. */
  | { kind: 'lost'; said: string }
  /** The scheduler answered with an error of its own (not found, denied, disk full): the answer to give. */
  | { kind: 'answer' };

export function classify(err: unknown): Refusal {
  const e = err as Partial<grpc.ServiceError>;
  const details = e.details ?? (err as Error).message ?? String(err);
  if (e.code === grpc.status.UNAVAILABLE) {
    const hint = e.metadata?.get(LEADER_METADATA);
    if ((hint !== undefined && hint.length > 0) || details.startsWith(STANDBY_MESSAGE)) {
      const leader = hint && hint.length > 0 ? String(hint[0]).trim() : /the leader is at (\S+)$/.exec(details)?.[1] ?? '';
      return { kind: 'standby', leader: leader || null, said: leader ? `a standby; it says the leader is at ${leader}` : 'a standby; it knows of no leader now' };
    }
    // grpc-js: "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ".
    const connect = /connect (E[A-Z]+)/.exec(details);
    if (connect || details.startsWith('No connection established')) return { kind: 'unreachable', said: `cannot connect (${connect?.[1] ?? details})` };
    // A disk-full scheduler refuses with UNAVAILABLE too, and says so: that is its answer.
    if (details.startsWith('scheduler storage full')) return { kind: 'answer' };
    return { kind: 'lost', said: `the connection broke before it answered (${details})` };
  }
  if (e.code === grpc.status.DEADLINE_EXCEEDED) return { kind: 'lost', said: 'did not answer in time' };
  if (e.code === grpc.status.CANCELLED) return { kind: 'lost', said: `the call was cancelled (${details})` };
  return { kind: 'answer' };
}

/**
 * The schedulers one client knows of, a connection to each made when first needed, and which
 * one it believes leads. `next` is the one rule for where to go after a refusal: to the leader
 * a standby names, unless that address just failed (could not be reached, or did not answer);
 * else to the next address in the list, in turn.
 */
export class SchedulerSet {
  readonly #addresses: string[];
  readonly #credentials: ClientCredentials;
  readonly #clients = new Map<string, SchedulerClient>();
  readonly #lanes = new Map<string, SchedulerClient[]>();
  /** Addresses that could not be reached or broke a call since a leader last answered: a standby's pointer to one is not followed. */
  readonly #failed = new Set<string>();
  #current: string;

  constructor(addresses: string[], credentials: ClientCredentials = {}) {
    if (addresses.length === 0) throw new TypeError('SchedulerSet needs at least one address');
    this.#addresses = [...addresses];
    this.#credentials = credentials;
    this.#current = addresses[0]!;
  }

  /** The addresses given, and any leader a standby named that was not among them. */
  get addresses(): readonly string[] {
    return this.#addresses;
  }

  /** The scheduler believed to lead (or, before any answer, the first given). */
  get current(): string {
    return this.#current;
  }

  client(address = this.#current): SchedulerClient {
    let client = this.#clients.get(address);
    if (client === undefined) this.#clients.set(address, (client = schedulerClient(address, this.#credentials)));
    return client;
  }

  /** The connections images travel on to `address` (transferClients). */
  lanes(address = this.#current): SchedulerClient[] {
    let lanes = this.#lanes.get(address);
    if (lanes === undefined) this.#lanes.set(address, (lanes = transferClients(address, this.#credentials)));
    return lanes;
  }

  /** `address` answered as the leader (or answered a read): go on with it. */
  answered(address: string, asLeader: boolean): void {
    if (asLeader) {
      this.#current = address;
      this.#failed.clear();
    } else {
      this.#failed.delete(address);
    }
  }

  /** Where to go after `from` gave `refusal`; becomes the current address. */
  next(from: string, refusal: Refusal): string {
    // A scheduler paused (SIGSTOP) accepts connections but answers nothing: "lost" counts as failed too.
    if (refusal.kind === 'unreachable' || refusal.kind === 'lost') this.#failed.add(from);
    else this.#failed.delete(from);
    let to: string;
    if (refusal.kind === 'standby' && refusal.leader !== null && refusal.leader !== from && !this.#failed.has(refusal.leader)) {
      to = refusal.leader;
      // A leader known by another name (its advertised address) is followed all the same.
      if (!this.#addresses.includes(to)) this.#addresses.push(to);
    } else {
      const at = this.#addresses.indexOf(from);
      to = this.#addresses[(at + 1) % this.#addresses.length]!;
    }
    this.#current = to;
    return to;
  }

  close(): void {
    for (const client of this.#clients.values()) client.close();
    for (const lanes of this.#lanes.values()) for (const lane of lanes) lane.close();
    this.#clients.clear();
    this.#lanes.clear();
  }
}

export interface FollowOptions {
  deadlineMs: number;
  /**
   * While some scheduler answers as a standby but none leads (the leader died and no standby
   * has taken over yet), keep trying for this long. Default 0: one round over the addresses.
   */
  leaderWaitMs?: number;
  /** Pause between rounds over the addresses while waiting for a leader. */
  roundPauseMs?: number;
}

/** What one scheduler said to one call, in the order asked: what NoSchedulerError reports. */
export interface Tried {
  address: string;
  kind: Exclude<Refusal['kind'], 'answer'>;
  said: string;
}

const ROUND_PAUSE_MS = 250;

/**
 * One call, sent where `set` says and on to the next address while the one asked could not
 * take it: a read goes to any that answers; a write follows the leader a standby names. A
 * scheduler's own answer (a reply or an error of its own) ends it. A write that a scheduler may
 * have received before it went away is sent again only when repeating it means the same
 * (NOT_REPEATABLE). Throws NoSchedulerError, with what each said, when none could take it.
 */
export async function followCall<K extends keyof UnaryRpcs>(set: SchedulerSet, method: K, request: UnaryRpcs[K][0], options: FollowOptions): Promise<UnaryRpcs[K][1]> {
  const read = READ_RPCS.has(method);
  const waitUntil = Date.now() + (options.leaderWaitMs ?? 0);
  const pauseMs = options.roundPauseMs ?? ROUND_PAUSE_MS;
  const tried: Tried[] = [];
  let address = set.current;
  for (;;) {
    // A round: every address at most once, plus one hop to a leader a standby names.
    const asked = new Set<string>();
    let sawStandby = false;
    for (let hop = 0; hop <= set.addresses.length && !asked.has(address); hop++) {
      asked.add(address);
      try {
        const reply = await unary(set.client(address), method, request, options.deadlineMs);
        set.answered(address, !read);
        return reply;
      } catch (err) {
        const refusal = classify(err);
        if (refusal.kind === 'answer') {
          set.answered(address, !read);
          throw err;
        }
        tried.push({ address, kind: refusal.kind, said: refusal.said });
        // Decided first, so that the next call goes on from there even when this one ends here.
        address = set.next(address, refusal);
        if (refusal.kind === 'lost' && !read && NOT_REPEATABLE.has(method)) throw new NoSchedulerError(tried, method);
        if (refusal.kind === 'standby') sawStandby = true;
      }
    }
    // A cluster that answered (as standbys) but has no leader yet gets time to elect one; one
    // that did not answer at all is not running, and waiting would only delay saying so.
    if (!sawStandby || Date.now() + pauseMs > waitUntil) throw new NoSchedulerError(tried);
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    address = set.current;
  }
}
