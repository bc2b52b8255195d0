// The CLI's connection to the scheduler: where it is (--scheduler, then CR_SCHEDULER, then the
// default; several, comma-separated, when standby schedulers share its database: the call
// follows the leader, leader-follow.ts), and errors that say what to do instead of gRPC's text.
import * as grpc from '@grpc/grpc-js';
import { ClusterError, NoSchedulerError } from './cluster-errors.js';
import type { ClientCredentials } from './credentials.js';
import { parseSchedulerAddresses } from './addresses.js';
import { followCall, SchedulerSet } from './leader-follow.js';
import { DEFAULT_ADDRESS } from './names.js';
import type { SchedulerClient, UnaryRpcs } from './proto/load.js';

export { ClusterError, NoSchedulerError };

/**
 * How long a CLI call waits for the scheduler's answer. A scheduler that is running but busy (a
 * loaded machine, a slow disk) can take many seconds; one that is not running refuses the
 * connection at once (UNAVAILABLE), so a long deadline costs nothing then.
 */
export const CALL_DEADLINE_MS = 60_000;

/**
 * While the schedulers answer as standbys and none leads yet (a leader change is under way), a
 * write waits this long for a new leader before saying none could take it.
 */
export const LEADER_WAIT_MS = 30_000;

export class Cluster {
  /** The addresses as given (--scheduler, CR_SCHEDULER, the default), comma-separated. */
  readonly address: string;
  readonly #set: SchedulerSet;
  /** Where a token was looked for and not found: said when the scheduler wants one. */
  readonly #noToken: string | null;

  constructor(address: string | undefined, credentials: ClientCredentials = {}, noToken: string | null = null) {
    this.address = address || process.env.CR_SCHEDULER || DEFAULT_ADDRESS;
    this.#noToken = noToken;
    let addresses: string[];
    try {
      addresses = parseSchedulerAddresses(this.address);
    } catch (err) {
      throw new ClusterError((err as Error).message);
    }
    this.#set = new SchedulerSet(addresses, credentials);
  }

  /** A connection to the scheduler this client goes to first (the leader, once one answered). */
  get client(): SchedulerClient {
    return this.#set.client();
  }

  async call<K extends keyof UnaryRpcs>(method: K, request: UnaryRpcs[K][0], deadlineMs = CALL_DEADLINE_MS): Promise<UnaryRpcs[K][1]> {
    try {
      return await followCall(this.#set, method, request, { deadlineMs, leaderWaitMs: LEADER_WAIT_MS });
    } catch (err) {
      if (err instanceof NoSchedulerError) throw this.#oneScheduler(err, deadlineMs);
      const e = err as grpc.ServiceError;
      if (e.code === grpc.status.UNAUTHENTICATED) throw new ClusterError(`not authenticated: ${e.details}${this.#noToken ? `. ${this.#noToken}` : ''}`);
      if (e.code === grpc.status.PERMISSION_DENIED) throw new ClusterError(`permission denied: ${e.details}`);
      if (e.details) throw new ClusterError(e.details);
      throw err;
    }
  }

  /** With one scheduler asked once, what it said, as before there were several. */
  #oneScheduler(err: NoSchedulerError, deadlineMs: number): ClusterError {
    if (err.tried.length !== 1 || err.code !== 'CR_NO_SCHEDULER') return err;
    const { address, kind } = err.tried[0]!;
    // A scheduler that is there but slow is not one that cannot be reached: "is it running?" would mislead.
    if (kind === 'lost' && /in time/.test(err.tried[0]!.said)) {
      return new ClusterError(`the scheduler at ${address} did not answer within ${deadlineMs / 1000} s: it may be overloaded; try again (set --scheduler or CR_SCHEDULER if the address is wrong)`);
    }
    if (kind === 'unreachable' || kind === 'lost') {
      return new ClusterError(`cannot reach the scheduler at ${address}: is "cr-scheduler serve" running? (set --scheduler or CR_SCHEDULER; if it listens with TLS, give --ca or CR_CA)`);
    }
    return err;
  }

  close(): void {
    this.#set.close();
  }
}
