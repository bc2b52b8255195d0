// Original file: scheduler/proto/cr.proto

import type { NodeInfo as _cr_v1_NodeInfo, NodeInfo__Output as _cr_v1_NodeInfo__Output } from '../../cr/v1/NodeInfo.js';

export interface ListNodesReply {
  'nodes'?: (_cr_v1_NodeInfo)[];
}

export interface ListNodesReply__Output {
  'nodes': (_cr_v1_NodeInfo__Output)[];
}
