// Original file: scheduler/proto/cr.proto


export interface ListJobsRequest {
  /**
   * Empty: all jobs.
   */
  'states'?: (string)[];
  /**
   * Everyone's jobs, not only the caller's own (a user sees others' jobs without their results,
   * errors or messages, and cannot act on them).
   */
  'all'?: (boolean);
  /**
   * The newest this many jobs that match (listed oldest first); 0: all of them.
   */
  'limit'?: (number);
}

export interface ListJobsRequest__Output {
  /**
   * Empty: all jobs.
   */
  'states': (string)[];
  /**
   * Everyone's jobs, not only the caller's own (a user sees others' jobs without their results,
   * errors or messages, and cannot act on them).
   */
  'all': (boolean);
  /**
   * The newest this many jobs that match (listed oldest first); 0: all of them.
   */
  'limit': (number);
}
