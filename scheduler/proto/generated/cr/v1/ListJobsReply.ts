// Original file: scheduler/proto/cr.proto

import type { JobInfo as _cr_v1_JobInfo, JobInfo__Output as _cr_v1_JobInfo__Output } from '../../cr/v1/JobInfo.js';

export interface ListJobsReply {
  'jobs'?: (_cr_v1_JobInfo)[];
  /**
   * Older jobs matched too but were left out (limit).
   */
  'more'?: (boolean);
}

export interface ListJobsReply__Output {
  'jobs': (_cr_v1_JobInfo__Output)[];
  /**
   * Older jobs matched too but were left out (limit).
   */
  'more': (boolean);
}
