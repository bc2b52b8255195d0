// Original file: scheduler/proto/cr.proto

import type { CheckpointFigures as _cr_v1_CheckpointFigures, CheckpointFigures__Output as _cr_v1_CheckpointFigures__Output } from '../../cr/v1/CheckpointFigures.js';

export interface ReportRequest {
  'job'?: (number);
  'attempt'?: (number);
  /**
   * -1: no progress in this report.
   */
  'progress'?: (number | string);
  'message'?: (string);
  'logs'?: (string)[];
  /**
   * The attempt's secret (Assignment.secret).
   */
  'secret'?: (string);
  /**
   * The checkpoints the job committed on the node since the last report, as the node measured
   * them (the scheduler's metrics; docs/observability.md).
   */
  'checkpoints'?: (_cr_v1_CheckpointFigures)[];
  /**
   * Committed images of this attempt the node gave up uploading since the last report.
   */
  'checkpointsFailed'?: (number);
}

export interface ReportRequest__Output {
  'job': (number);
  'attempt': (number);
  /**
   * -1: no progress in this report.
   */
  'progress': (number);
  'message': (string);
  'logs': (string)[];
  /**
   * The attempt's secret (Assignment.secret).
   */
  'secret': (string);
  /**
   * The checkpoints the job committed on the node since the last report, as the node measured
   * them (the scheduler's metrics; docs/observability.md).
   */
  'checkpoints': (_cr_v1_CheckpointFigures__Output)[];
  /**
   * Committed images of this attempt the node gave up uploading since the last report.
   */
  'checkpointsFailed': (number);
}
