// Names shared by the scheduler and its agents.

/** A job's name in an image store (scheduler's and agent's): the same on every node. */
export function storeJobName(id: number): string {
  return `job-${id}`;
}

export const DEFAULT_PORT = 7070;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_ADDRESS = `${DEFAULT_HOST}:${DEFAULT_PORT}`;
/** Default lease: a node not heard from for this long is presumed dead. */
export const DEFAULT_LEASE_TIMEOUT_MS = 5000;
/** Agents retry a lost connection at least this often; a restarted scheduler waits this much longer than a lease for them. */
export const AGENT_RECONNECT_MAX_MS = 2000;
/** Where `serve` keeps its database, images and token files unless told (--data, CR_DATA). */
export const DEFAULT_DATA_DIR = '.cr-scheduler';
