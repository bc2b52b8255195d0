// Original file: scheduler/proto/cr.proto


export interface CreateTokenRequest {
  /**
   * agent, user or admin.
   */
  'role'?: (string);
  /**
   * Seconds until it expires; 0: never.
   */
  'ttlS'?: (number);
  'label'?: (string);
}

export interface CreateTokenRequest__Output {
  /**
   * agent, user or admin.
   */
  'role': (string);
  /**
   * Seconds until it expires; 0: never.
   */
  'ttlS': (number);
  'label': (string);
}
