// Original file: scheduler/proto/cr.proto


// Original file: scheduler/proto/cr.proto

export const _cr_v1_FinishRequest_Outcome = {
  OUTCOME_UNSPECIFIED: 'OUTCOME_UNSPECIFIED',
  SUCCEEDED: 'SUCCEEDED',
  FAILED: 'FAILED',
  /**
   * Stopped after a checkpoint, as asked (migrate).
   */
  STOPPED: 'STOPPED',
  /**
   * Cancelled, as asked.
   */
  CANCELLED: 'CANCELLED',
  /**
   * Never started: its code or an image could not be fetched (the scheduler restarted, the
   * network failed, a file arrived damaged). Not the job's error: requeued, no retry spent.
   */
  UNSTARTED: 'UNSTARTED',
} as const;

export type _cr_v1_FinishRequest_Outcome =
  | 'OUTCOME_UNSPECIFIED'
  | 0
  | 'SUCCEEDED'
  | 1
  | 'FAILED'
  | 2
  /**
   * Stopped after a checkpoint, as asked (migrate).
   */
  | 'STOPPED'
  | 3
  /**
   * Cancelled, as asked.
   */
  | 'CANCELLED'
  | 4
  /**
   * Never started: its code or an image could not be fetched (the scheduler restarted, the
   * network failed, a file arrived damaged). Not the job's error: requeued, no retry spent.
   */
  | 'UNSTARTED'
  | 5

export type _cr_v1_FinishRequest_Outcome__Output = typeof _cr_v1_FinishRequest_Outcome[keyof typeof _cr_v1_FinishRequest_Outcome]

export interface FinishRequest {
  'job'?: (number);
  'attempt'?: (number);
  'outcome'?: (_cr_v1_FinishRequest_Outcome);
  'resultJson'?: (string);
  /**
   * The job's error: {name, message, code, stack}, JSON.
   */
  'errorJson'?: (string);
  /**
   * Whether the runner would retry this error (false: it would only repeat).
   */
  'retryable'?: (boolean);
  /**
   * The attempt's secret (Assignment.secret).
   */
  'secret'?: (string);
  /**
   * UNSTARTED because these images of the plan are missing or damaged where they are stored (not
   * a failed connection): the scheduler forgets them and plans from the image before them.
   */
  'unusableImages'?: (number)[];
}

export interface FinishRequest__Output {
  'job': (number);
  'attempt': (number);
  'outcome': (_cr_v1_FinishRequest_Outcome__Output);
  'resultJson': (string);
  /**
   * The job's error: {name, message, code, stack}, JSON.
   */
  'errorJson': (string);
  /**
   * Whether the runner would retry this error (false: it would only repeat).
   */
  'retryable': (boolean);
  /**
   * The attempt's secret (Assignment.secret).
   */
  'secret': (string);
  /**
   * UNSTARTED because these images of the plan are missing or damaged where they are stored (not
   * a failed connection): the scheduler forgets them and plans from the image before them.
   */
  'unusableImages': (number)[];
}
