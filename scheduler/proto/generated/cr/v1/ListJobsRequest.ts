// Original file: scheduler/proto/cr.proto


export interface ListJobsRequest {
  /**
   * Empty: all jobs.
   */
  'states'?: (string)[];
}

export interface ListJobsRequest__Output {
  /**
   * Empty: all jobs.
   */
  'states': (string)[];
}
