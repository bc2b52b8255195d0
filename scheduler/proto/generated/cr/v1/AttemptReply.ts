// Original file: scheduler/proto/cr.proto


export interface AttemptReply {
  /**
   * The attempt is not the job's current one: the agent must stop it.
   */
  'stale'?: (boolean);
}

export interface AttemptReply__Output {
  /**
   * The attempt is not the job's current one: the agent must stop it.
   */
  'stale': (boolean);
}
