// The health of the scheduler's own disk. A write that fails for lack of space (or an I/O
// error) does not end the scheduler: it becomes degraded. Degraded, it keeps what it can in
// memory (leases are renewed, a lease that expires is expired again at the next tick until its
// jobs can be requeued), refuses new work (submissions, uploads, placements) with a status
// that says why, and reports it (the serve log, `nodes`, `status`). A check at every tick
// notices when space has returned (free space above the reserve and a test write that commits)
// and ends the degraded state by itself.
import fs from 'node:fs';
import { STORAGE_FULL } from '../names.js';
import { Refused } from './upload-outcome.js';

/** What `nodes` and `status` show, and what refusals say, while the scheduler is degraded. */
export { STORAGE_FULL };
/** Free space the scheduler wants before it takes work again after a full disk (bytes). */
export const DEFAULT_STORAGE_RESERVE_BYTES = 64 << 20;

const SQLITE_STORAGE = /^SQLITE_(FULL|IOERR|CANTOPEN|READONLY)/;
const ERRNO_STORAGE = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EFBIG']);
// PostgreSQL's SQLSTATEs disk_full and io_error.
const POSTGRES_STORAGE = new Set(['53100', '58030']);

/** True for an error of the disk (full, failing, read-only), not of the request. */
export function isStorageError(err: unknown): boolean {
  let e = err as { code?: unknown; cause?: unknown } | null;
  for (let depth = 0; e && depth < 3; depth++, e = e.cause as typeof e) {
    if (typeof e.code === 'string' && (SQLITE_STORAGE.test(e.code) || ERRNO_STORAGE.has(e.code) || POSTGRES_STORAGE.has(e.code))) return true;
  }
  return false;
}

export interface Degraded {
  since: number;
  reason: string;
}

export class StorageHealth {
  readonly #dir: string;
  readonly #log: (line: string) => void;
  readonly reserveBytes: number;
  #degraded: Degraded | null = null;

  constructor(dir: string, log: (line: string) => void, reserveBytes = DEFAULT_STORAGE_RESERVE_BYTES) {
    this.#dir = dir;
    this.#log = log;
    this.reserveBytes = reserveBytes;
  }

  get degraded(): Degraded | null {
    return this.#degraded;
  }

  /** The line `nodes` and `status` show: empty while the disk is healthy. */
  get status(): string {
    return this.#degraded === null ? '' : `${STORAGE_FULL} (since ${new Date(this.#degraded.since).toISOString()}: ${this.#degraded.reason})`;
  }

  /** Free bytes for the scheduler on its data directory's file system (Infinity when it cannot tell). */
  freeBytes(): number {
    try {
      const s = fs.statfsSync(this.#dir);
      return s.bavail * s.bsize;
    } catch {
      return Infinity;
    }
  }

  /**
   * Records that `what` failed on the disk: the scheduler is degraded from now on (logged once).
   * Returns true when `err` was the disk's; false for any other error (the caller's to handle).
   */
  noticed(err: unknown, what: string): boolean {
    if (!isStorageError(err)) return false;
    if (this.#degraded === null) {
      const reason = `${what}: ${(err as Error).message}`;
      this.#degraded = { since: Date.now(), reason };
      this.#log(`${STORAGE_FULL}: ${reason}. Leases and running jobs go on; free space in ${this.#dir} and the scheduler resumes by itself`);
    }
    return true;
  }

  /** `fn` with errors of the disk turned into `refusal(message)` (and the scheduler degraded). */
  guard<A extends unknown[], R>(what: string, fn: (...args: A) => Promise<R>, refusal: (message: string) => Error): (...args: A) => Promise<R> {
    return async (...args: A): Promise<R> => {
      try {
        return await fn(...args);
      } catch (err) {
        if (!this.noticed(err, what)) throw err;
        throw refusal(`${STORAGE_FULL}: ${what} failed (${(err as Error).message}); the scheduler resumes by itself when its disk has room`);
      }
    };
  }

  /**
   * Before an upload: room for `bytes` beside the reserve, after `prune` (what retention
   * allows) if need be; refused (RESOURCE_EXHAUSTED) otherwise, and at once while degraded.
   */
  async room(bytes: number, prune: () => Promise<void>): Promise<void> {
    if (this.#degraded !== null) throw new Refused(false, `${this.status}; the image is not stored`, 'RESOURCE_EXHAUSTED');
    const fits = (): boolean => this.freeBytes() >= bytes + this.reserveBytes;
    if (fits()) return;
    await prune();
    if (fits()) return;
    throw new Refused(false, `the scheduler's disk has ${this.freeBytes()} bytes free; this image needs ${bytes} and ${this.reserveBytes} are kept in reserve: free space in its data directory`, 'RESOURCE_EXHAUSTED');
  }

  /**
   * While degraded: tries `prune` (what retention may remove), then, with the reserve free,
   * `probe` (a test write); ends the degraded state when it commits. True when healthy.
   */
  async recover(prune: () => Promise<void>, probe: () => Promise<void>): Promise<boolean> {
    if (this.#degraded === null) return true;
    if (this.freeBytes() < this.reserveBytes) {
      try {
        await prune();
      } catch {
        // a prune that fails leaves the state as it is; the next tick tries again
      }
      if (this.freeBytes() < this.reserveBytes) return false;
    }
    try {
      await probe();
    } catch (err) {
      if (isStorageError(err)) return false;
      throw err;
    }
    const lasted = Date.now() - this.#degraded.since;
    this.#degraded = null;
    this.#log(`scheduler storage has room again (${Math.round(this.freeBytes() / 2 ** 20)} MiB free after ${Math.round(lasted / 1000)} s degraded): taking new work`);
    return true;
  }
}
