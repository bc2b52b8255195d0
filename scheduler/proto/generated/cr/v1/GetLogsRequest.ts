// Original file: scheduler/proto/cr.proto

import type { Long } from '@grpc/proto-loader';

export interface GetLogsRequest {
  'job'?: (number);
  /**
   * Only lines after this event id.
   */
  'after'?: (number | string | Long);
}

export interface GetLogsRequest__Output {
  'job': (number);
  /**
   * Only lines after this event id.
   */
  'after': (number);
}
