// Original file: scheduler/proto/cr.proto


export interface RenewRequest {
  /**
   * A new public key (SPKI, PEM) for the renewed certificate.
   */
  'publicKeyPem'?: (string);
}

export interface RenewRequest__Output {
  /**
   * A new public key (SPKI, PEM) for the renewed certificate.
   */
  'publicKeyPem': (string);
}
