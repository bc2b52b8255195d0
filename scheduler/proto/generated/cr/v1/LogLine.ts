// Original file: scheduler/proto/cr.proto

import type { Long } from '@grpc/proto-loader';

export interface LogLine {
  'id'?: (number | string | Long);
  'at'?: (number | string);
  'attempt'?: (number);
  /**
   * log | event
   */
  'kind'?: (string);
  'text'?: (string);
}

export interface LogLine__Output {
  'id': (number);
  'at': (number);
  'attempt': (number);
  /**
   * log | event
   */
  'kind': (string);
  'text': (string);
}
