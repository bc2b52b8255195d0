// Original file: scheduler/proto/cr.proto

import type { Long } from '@grpc/proto-loader';

export interface UploadImageHeader {
  'job'?: (number);
  'attempt'?: (number);
  'sequence'?: (number);
  'bytes'?: (number | string | Long);
  'node'?: (string);
}

export interface UploadImageHeader__Output {
  'job': (number);
  'attempt': (number);
  'sequence': (number);
  'bytes': (number);
  'node': (string);
}
