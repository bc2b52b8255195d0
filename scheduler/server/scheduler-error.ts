// The one refusal of the scheduler's core: the service (service.ts) maps its status to gRPC's.

/** A refusal the service maps to a gRPC status; its message says what to do. */
export class SchedulerError extends Error {
  constructor(
    readonly status: 'NOT_FOUND' | 'FAILED_PRECONDITION' | 'INVALID_ARGUMENT' | 'RESOURCE_EXHAUSTED' | 'UNAVAILABLE' | 'DEADLINE_EXCEEDED' | 'PERMISSION_DENIED',
    message: string,
  ) {
    super(message);
  }
}
