// Errors of the cluster commands that the CLI shows as a plain message (no stack trace). Kept
// apart from the gRPC client and the bundler so that the CLI loads neither until a command needs it.

/** The scheduler could not be reached or refused a request; the message says what to do. */
export class ClusterError extends Error {}

/** The job file or one of its imports could not be bundled. */
export class BundleError extends Error {}
