// The CLI's connection to the scheduler: where it is (--scheduler, then CR_SCHEDULER, then the
// default), and errors that say what to do instead of gRPC's status text.
import * as grpc from '@grpc/grpc-js';
import { ClusterError } from './cluster-errors.js';
import type { ClientCredentials } from './credentials.js';
import { DEFAULT_ADDRESS, STORAGE_FULL } from './names.js';
import { schedulerClient, unary, type SchedulerClient, type UnaryRpcs } from './proto/load.js';

export { ClusterError };

/**
 * How long a CLI call waits for the scheduler's answer. A scheduler that is running but busy (a
 * loaded machine, a slow disk) can take many seconds; one that is not running refuses the
 * connection at once (UNAVAILABLE), so a long deadline costs nothing then.
 */
export const CALL_DEADLINE_MS = 60_000;

export class Cluster {
  readonly address: string;
  readonly client: SchedulerClient;
  /** Where a token was looked for and not found: said when the scheduler wants one. */
  readonly #noToken: string | null;

  constructor(address: string | undefined, credentials: ClientCredentials = {}, noToken: string | null = null) {
    this.address = address || process.env.CR_SCHEDULER || DEFAULT_ADDRESS;
    this.#noToken = noToken;
    this.client = schedulerClient(this.address, credentials);
  }

  async call<K extends keyof UnaryRpcs>(method: K, request: UnaryRpcs[K][0], deadlineMs = CALL_DEADLINE_MS): Promise<UnaryRpcs[K][1]> {
    try {
      return await unary(this.client, method, request, deadlineMs);
    } catch (err) {
      const e = err as grpc.ServiceError;
      // A scheduler that is there but slow is not one that cannot be reached: "is it running?" would mislead.
      if (e.code === grpc.status.DEADLINE_EXCEEDED) {
        throw new ClusterError(`the scheduler at ${this.address} did not answer within ${deadlineMs / 1000} s: it may be overloaded; try again (set --scheduler or CR_SCHEDULER if the address is wrong)`);
      }
      // A scheduler whose disk is full answers UNAVAILABLE too, and says so.
      // A standby answers UNAVAILABLE too, naming the leader.
      if (e.code === grpc.status.UNAVAILABLE && !e.details?.startsWith(STORAGE_FULL) && !e.details?.startsWith('this scheduler is a standby')) {
        throw new ClusterError(`cannot reach the scheduler at ${this.address}: is "cr-scheduler serve" running? (set --scheduler or CR_SCHEDULER; if it listens with TLS, give --ca or CR_CA)`);
      }
      if (e.code === grpc.status.UNAUTHENTICATED) throw new ClusterError(`not authenticated: ${e.details}${this.#noToken ? `. ${this.#noToken}` : ''}`);
      if (e.code === grpc.status.PERMISSION_DENIED) throw new ClusterError(`permission denied: ${e.details}`);
      if (e.details) throw new ClusterError(e.details);
      throw err;
    }
  }

  close(): void {
    this.client.close();
  }
}
