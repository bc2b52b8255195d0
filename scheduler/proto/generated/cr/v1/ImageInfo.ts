// Original file: scheduler/proto/cr.proto

import type { Long } from '@grpc/proto-loader';

export interface ImageInfo {
  'sequence'?: (number);
  'attempt'?: (number);
  'bytes'?: (number | string | Long);
  'sha256'?: (string);
  'bases'?: (number)[];
  'createdAt'?: (number | string);
  'node'?: (string);
}

export interface ImageInfo__Output {
  'sequence': (number);
  'attempt': (number);
  'bytes': (number);
  'sha256': (string);
  'bases': (number)[];
  'createdAt': (number);
  'node': (string);
}
