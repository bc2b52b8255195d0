// Original file: scheduler/proto/cr.proto


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
   * Committed images of this attempt the node gave up uploading since the last report (the
   * scheduler's metrics; docs/observability.md).
   */
  'checkpointsFailed'?: (number);
  /**
   * Checkpoints of this attempt the job could not write on the node (capture or write failed:
   * a full disk...) since the last report.
   */
  'checkpointWritesFailed'?: (number);
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
   * Committed images of this attempt the node gave up uploading since the last report (the
   * scheduler's metrics; docs/observability.md).
   */
  'checkpointsFailed': (number);
  /**
   * Checkpoints of this attempt the job could not write on the node (capture or write failed:
   * a full disk...) since the last report.
   */
  'checkpointWritesFailed': (number);
}
