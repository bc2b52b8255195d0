// Original file: scheduler/proto/cr.proto

import type { TokenInfo as _cr_v1_TokenInfo, TokenInfo__Output as _cr_v1_TokenInfo__Output } from '../../cr/v1/TokenInfo.js';

export interface ListTokensReply {
  'tokens'?: (_cr_v1_TokenInfo)[];
}

export interface ListTokensReply__Output {
  'tokens': (_cr_v1_TokenInfo__Output)[];
}
