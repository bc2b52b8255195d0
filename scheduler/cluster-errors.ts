// Errors of the cluster commands that the CLI shows as a plain message (no stack trace). Kept
// apart from the gRPC client and the bundler so that the CLI loads neither until a command needs it.

/** The scheduler could not be reached or refused a request; the message says what to do. */
export class ClusterError extends Error {}

/** The job file or one of its imports could not be bundled. */
export class BundleError extends Error {}

/**
 * No scheduler could take a call (`CR_NO_SCHEDULER`): each address given, and any leader a
 * standby named, was tried, and `tried` says what each said. `CR_SCHEDULER_LOST`: a scheduler
 * went away after it may have received a call that must not be sent twice (`method`).
 */
export class NoSchedulerError extends ClusterError {
  readonly code: 'CR_NO_SCHEDULER' | 'CR_SCHEDULER_LOST';
  readonly tried: readonly { address: string; kind: string; said: string }[];

  constructor(tried: readonly { address: string; kind: string; said: string }[], lostMethod: string | null = null) {
    // One line, as every CLI error is (output.ts): "Tried a:7070: …; b:7070: …".
    const list = tried.map((t) => `${t.address}: ${t.said}`).join('; ');
    const last = tried[tried.length - 1];
    super(
      lostMethod !== null && last
        ? `the scheduler at ${last.address} went away after it may have received ${lostMethod}; check (e.g. "cr-scheduler list") before trying again. Tried ${list}`
        : `no scheduler could take the call (set --scheduler or CR_SCHEDULER to host:port,host:port; if they listen with TLS, give --ca or CR_CA). Tried ${list}`,
    );
    this.name = 'NoSchedulerError';
    this.code = lostMethod !== null ? 'CR_SCHEDULER_LOST' : 'CR_NO_SCHEDULER';
    this.tried = tried;
  }
}
