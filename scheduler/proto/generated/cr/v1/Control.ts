// Original file: scheduler/proto/cr.proto


// Original file: scheduler/proto/cr.proto

export const _cr_v1_Control_Action = {
  ACTION_UNSPECIFIED: 'ACTION_UNSPECIFIED',
  /**
   * Take a checkpoint at the next safe point and go on.
   */
  CHECKPOINT: 'CHECKPOINT',
  /**
   * Take a checkpoint at the next safe point, upload it, then stop (drain / migrate).
   */
  MIGRATE: 'MIGRATE',
  /**
   * Stop now, no checkpoint (cancel).
   */
  CANCEL: 'CANCEL',
  /**
   * This attempt is no longer the job's current one: stop it now, report nothing.
   */
  STALE: 'STALE',
} as const;

export type _cr_v1_Control_Action =
  | 'ACTION_UNSPECIFIED'
  | 0
  /**
   * Take a checkpoint at the next safe point and go on.
   */
  | 'CHECKPOINT'
  | 1
  /**
   * Take a checkpoint at the next safe point, upload it, then stop (drain / migrate).
   */
  | 'MIGRATE'
  | 2
  /**
   * Stop now, no checkpoint (cancel).
   */
  | 'CANCEL'
  | 3
  /**
   * This attempt is no longer the job's current one: stop it now, report nothing.
   */
  | 'STALE'
  | 4

export type _cr_v1_Control_Action__Output = typeof _cr_v1_Control_Action[keyof typeof _cr_v1_Control_Action]

export interface Control {
  'job'?: (number);
  'attempt'?: (number);
  'action'?: (_cr_v1_Control_Action);
}

export interface Control__Output {
  'job': (number);
  'attempt': (number);
  'action': (_cr_v1_Control_Action__Output);
}
