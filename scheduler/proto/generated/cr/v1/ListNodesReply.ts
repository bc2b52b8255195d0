// Original file: scheduler/proto/cr.proto

import type { NodeInfo as _cr_v1_NodeInfo, NodeInfo__Output as _cr_v1_NodeInfo__Output } from '../../cr/v1/NodeInfo.js';

export interface ListNodesReply {
  'nodes'?: (_cr_v1_NodeInfo)[];
  /**
   * Empty, or why the scheduler refuses new work ("scheduler storage full: new work refused …").
   */
  'storage'?: (string);
}

export interface ListNodesReply__Output {
  'nodes': (_cr_v1_NodeInfo__Output)[];
  /**
   * Empty, or why the scheduler refuses new work ("scheduler storage full: new work refused …").
   */
  'storage': (string);
}
