// Original file: scheduler/proto/cr.proto

import type { Long } from '@grpc/proto-loader';

export interface ImageRef {
  'sequence'?: (number);
  'bytes'?: (number | string | Long);
  'sha256'?: (string);
  /**
   * The attempt that wrote it: with a shared image store, part of its object's name.
   */
  'attempt'?: (number);
}

export interface ImageRef__Output {
  'sequence': (number);
  'bytes': (number);
  'sha256': (string);
  /**
   * The attempt that wrote it: with a shared image store, part of its object's name.
   */
  'attempt': (number);
}
