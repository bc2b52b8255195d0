// Original file: scheduler/proto/cr.proto

import type { Long } from '@grpc/proto-loader';

/**
 * One checkpoint as the node that took it measured it.
 */
export interface CheckpointFigures {
  'sequence'?: (number);
  /**
   * The image file's size.
   */
  'bytes'?: (number | string | Long);
  'incremental'?: (boolean);
  /**
   * The job's pause in cr.checkpoint(), and from its end to the durable image on the node.
   */
  'pauseMs'?: (number | string);
  'commitMs'?: (number | string);
}

/**
 * One checkpoint as the node that took it measured it.
 */
export interface CheckpointFigures__Output {
  'sequence': (number);
  /**
   * The image file's size.
   */
  'bytes': (number);
  'incremental': (boolean);
  /**
   * The job's pause in cr.checkpoint(), and from its end to the durable image on the node.
   */
  'pauseMs': (number);
  'commitMs': (number);
}
