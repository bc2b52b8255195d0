// Original file: scheduler/proto/cr.proto

import type { LogLine as _cr_v1_LogLine, LogLine__Output as _cr_v1_LogLine__Output } from '../../cr/v1/LogLine.js';

export interface GetLogsReply {
  'lines'?: (_cr_v1_LogLine)[];
  /**
   * The job's state when the lines were read, so `logs --follow` knows when to stop.
   */
  'state'?: (string);
}

export interface GetLogsReply__Output {
  'lines': (_cr_v1_LogLine__Output)[];
  /**
   * The job's state when the lines were read, so `logs --follow` knows when to stop.
   */
  'state': (string);
}
