// Original file: scheduler/proto/cr.proto


/**
 * An attempt the agent is running (or finished but could not report yet).
 */
export interface RunningAttempt {
  'job'?: (number);
  'attempt'?: (number);
}

/**
 * An attempt the agent is running (or finished but could not report yet).
 */
export interface RunningAttempt__Output {
  'job': (number);
  'attempt': (number);
}
