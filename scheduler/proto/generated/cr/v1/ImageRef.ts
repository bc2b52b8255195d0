// Original file: scheduler/proto/cr.proto

import type { Long } from '@grpc/proto-loader';

export interface ImageRef {
  'sequence'?: (number);
  'bytes'?: (number | string | Long);
  'sha256'?: (string);
}

export interface ImageRef__Output {
  'sequence': (number);
  'bytes': (number);
  'sha256': (string);
}
