// Original file: scheduler/proto/cr.proto


export interface RevokeNodeReply {
  /**
   * Certificates and agent tokens revoked.
   */
  'certificates'?: (number);
  'tokens'?: (number);
}

export interface RevokeNodeReply__Output {
  /**
   * Certificates and agent tokens revoked.
   */
  'certificates': (number);
  'tokens': (number);
}
