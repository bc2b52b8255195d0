// Original file: scheduler/proto/cr.proto

import type { ImageInfo as _cr_v1_ImageInfo, ImageInfo__Output as _cr_v1_ImageInfo__Output } from '../../cr/v1/ImageInfo.js';

export interface ListImagesReply {
  'images'?: (_cr_v1_ImageInfo)[];
}

export interface ListImagesReply__Output {
  'images': (_cr_v1_ImageInfo__Output)[];
}
