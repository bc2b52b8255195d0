// Original file: scheduler/proto/cr.proto


export interface JobInfo {
  'id'?: (number);
  'name'?: (string);
  /**
   * queued | running | succeeded | failed | cancelled
   */
  'state'?: (string);
  'priority'?: (number);
  'retries'?: (number);
  'retriesUsed'?: (number);
  'attempt'?: (number);
  'node'?: (string);
  'progress'?: (number | string);
  'message'?: (string);
  'resultJson'?: (string);
  'errorJson'?: (string);
  'submittedAt'?: (number | string);
  'startedAt'?: (number | string);
  'finishedAt'?: (number | string);
  /**
   * A request being served: checkpoint | migrate | cancel, or empty.
   */
  'pending'?: (string);
  'images'?: (number);
  /**
   * Attempts that ended because their node died or was drained.
   */
  'moves'?: (number);
  /**
   * Who submitted it: the label of the token it was submitted with, else `token <id>`.
   */
  'owner'?: (string);
}

export interface JobInfo__Output {
  'id': (number);
  'name': (string);
  /**
   * queued | running | succeeded | failed | cancelled
   */
  'state': (string);
  'priority': (number);
  'retries': (number);
  'retriesUsed': (number);
  'attempt': (number);
  'node': (string);
  'progress': (number);
  'message': (string);
  'resultJson': (string);
  'errorJson': (string);
  'submittedAt': (number);
  'startedAt': (number);
  'finishedAt': (number);
  /**
   * A request being served: checkpoint | migrate | cancel, or empty.
   */
  'pending': (string);
  'images': (number);
  /**
   * Attempts that ended because their node died or was drained.
   */
  'moves': (number);
  /**
   * Who submitted it: the label of the token it was submitted with, else `token <id>`.
   */
  'owner': (string);
}
