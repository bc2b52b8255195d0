// Original file: scheduler/proto/cr.proto


export interface UploadImageReply {
  'accepted'?: (boolean);
  /**
   * The attempt is not the job's current one: the agent must stop it.
   */
  'stale'?: (boolean);
  'reason'?: (string);
}

export interface UploadImageReply__Output {
  'accepted': (boolean);
  /**
   * The attempt is not the job's current one: the agent must stop it.
   */
  'stale': (boolean);
  'reason': (string);
}
