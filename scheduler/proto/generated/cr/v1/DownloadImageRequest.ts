// Original file: scheduler/proto/cr.proto

import type { Long } from '@grpc/proto-loader';

export interface DownloadImageRequest {
  'job'?: (number);
  'sequence'?: (number);
  /**
   * A byte range of the image (a parallel download asks for several at once). length 0: up to
   * the end, so a request without these fields gets the whole image.
   */
  'offset'?: (number | string | Long);
  'length'?: (number | string | Long);
  /**
   * The attempt that reads the images, and its secret (Assignment.secret).
   */
  'attempt'?: (number);
  'secret'?: (string);
}

export interface DownloadImageRequest__Output {
  'job': (number);
  'sequence': (number);
  /**
   * A byte range of the image (a parallel download asks for several at once). length 0: up to
   * the end, so a request without these fields gets the whole image.
   */
  'offset': (number);
  'length': (number);
  /**
   * The attempt that reads the images, and its secret (Assignment.secret).
   */
  'attempt': (number);
  'secret': (string);
}
