// Original file: scheduler/proto/cr.proto

import type { ImageRef as _cr_v1_ImageRef, ImageRef__Output as _cr_v1_ImageRef__Output } from '../../cr/v1/ImageRef.js';

export interface Assignment {
  'job'?: (number);
  'attempt'?: (number);
  'name'?: (string);
  'codeSha256'?: (string);
  'argsJson'?: (string);
  'intervalMs'?: (number);
  /**
   * The images to restore from: the newest usable one and the images it shares blocks with
   * (its bases), oldest first. Empty: start from the beginning.
   */
  'images'?: (_cr_v1_ImageRef)[];
  'fullEvery'?: (number);
  /**
   * No longer sent: an image that cannot be used is named in FinishRequest.unusable_images, and
   * the scheduler plans the next attempt from the image before it.
   */
  'fallback'?: (_cr_v1_ImageRef)[];
  /**
   * This attempt's secret (256 random bits, base64url), sent only to the node it is assigned
   * to: Report, Finish, UploadImage and DownloadImage of the attempt carry it.
   */
  'secret'?: (string);
}

export interface Assignment__Output {
  'job': (number);
  'attempt': (number);
  'name': (string);
  'codeSha256': (string);
  'argsJson': (string);
  'intervalMs': (number);
  /**
   * The images to restore from: the newest usable one and the images it shares blocks with
   * (its bases), oldest first. Empty: start from the beginning.
   */
  'images': (_cr_v1_ImageRef__Output)[];
  'fullEvery': (number);
  /**
   * No longer sent: an image that cannot be used is named in FinishRequest.unusable_images, and
   * the scheduler plans the next attempt from the image before it.
   */
  'fallback': (_cr_v1_ImageRef__Output)[];
  /**
   * This attempt's secret (256 random bits, base64url), sent only to the node it is assigned
   * to: Report, Finish, UploadImage and DownloadImage of the attempt carry it.
   */
  'secret': (string);
}
