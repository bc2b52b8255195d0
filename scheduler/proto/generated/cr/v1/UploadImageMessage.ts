// Original file: scheduler/proto/cr.proto

import type { UploadImageHeader as _cr_v1_UploadImageHeader, UploadImageHeader__Output as _cr_v1_UploadImageHeader__Output } from '../../cr/v1/UploadImageHeader.js';
import type { UploadImageTrailer as _cr_v1_UploadImageTrailer, UploadImageTrailer__Output as _cr_v1_UploadImageTrailer__Output } from '../../cr/v1/UploadImageTrailer.js';

export interface UploadImageMessage {
  'header'?: (_cr_v1_UploadImageHeader | null);
  'chunk'?: (Buffer | Uint8Array | string);
  'trailer'?: (_cr_v1_UploadImageTrailer | null);
  'part'?: "header"|"chunk"|"trailer";
}

export interface UploadImageMessage__Output {
  'header'?: (_cr_v1_UploadImageHeader__Output | null);
  'chunk'?: (Buffer);
  'trailer'?: (_cr_v1_UploadImageTrailer__Output | null);
  'part'?: "header"|"chunk"|"trailer";
}
