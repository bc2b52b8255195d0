// An upload's one outcome: accepted, or refused (stale, over a limit, or wrong), as every part
// of it and the service are told.

/** The gRPC status of a refusal that ends the call instead of a reply (a limit the sender passed). */
export type RefusalStatus = 'RESOURCE_EXHAUSTED' | 'DEADLINE_EXCEEDED';

/**
 * A refusal: it fails the upload; `stale` says the attempt is no longer current; `status`, a
 * limit passed; `cause`, the disk's error when writing failed.
 */
export class Refused extends Error {
  constructor(
    readonly stale: boolean,
    message: string,
    readonly status?: RefusalStatus,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
  }
}

/** `status`: the upload was refused for a limit (a gRPC status the service ends the call with), not answered with a reply. */
export type UploadResult = { accepted: true } | { accepted: false; stale: boolean; reason: string; status?: RefusalStatus };

/** An upload's failure as its reply: a Refused says whether the attempt was stale and which status ends the call. */
export function refusal(err: unknown): UploadResult {
  const r = err instanceof Refused ? err : new Refused(false, (err as Error).message);
  return { accepted: false, stale: r.stale, reason: r.message, ...(r.status ? { status: r.status } : {}) };
}
