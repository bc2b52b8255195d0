// The key that tags one job's images in a cluster: derived from the cluster's image key and the
// job id with HKDF-SHA256 (RFC 5869). An agent hands a job only its own key, so a job's code can
// forge images of that job at most, never another job's; the scheduler and restoring agents,
// which hold the cluster key, derive the same key to verify. docs/image-format.md, "Keys".
import { hkdfSync } from 'node:crypto';

/** HKDF's info is this, a space and the job id in decimal: "cr image key v1 17". */
export const JOB_KEY_INFO = 'cr image key v1';
/** Bytes of a derived key: an image key of the store's own length. */
export const JOB_KEY_BYTES = 32;

/** The key of job `job`'s images under `clusterKey`. HKDF's salt is empty: the cluster key is already uniformly random. */
export function jobImageKey(clusterKey: Uint8Array, job: number): Buffer {
  if (!Number.isSafeInteger(job) || job < 1) throw new RangeError(`a job id is a positive whole number, got ${String(job)}`);
  if (clusterKey.length < 16) throw new RangeError(`the cluster's image key has ${clusterKey.length} bytes; it has at least 16`);
  return Buffer.from(hkdfSync('sha256', clusterKey, Buffer.alloc(0), `${JOB_KEY_INFO} ${job}`, JOB_KEY_BYTES));
}
