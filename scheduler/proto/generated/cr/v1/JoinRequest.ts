// Original file: scheduler/proto/cr.proto


export interface JoinRequest {
  'node'?: (string);
  /**
   * The agent's public key (SPKI, PEM); its private key never leaves the agent.
   */
  'publicKeyPem'?: (string);
}

export interface JoinRequest__Output {
  'node': (string);
  /**
   * The agent's public key (SPKI, PEM); its private key never leaves the agent.
   */
  'publicKeyPem': (string);
}
