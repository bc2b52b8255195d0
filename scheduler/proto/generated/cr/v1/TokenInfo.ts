// Original file: scheduler/proto/cr.proto


export interface TokenInfo {
  'id'?: (string);
  'role'?: (string);
  'label'?: (string);
  'createdAt'?: (number | string);
  /**
   * 0: never.
   */
  'expiresAt'?: (number | string);
  /**
   * 0: not revoked.
   */
  'revokedAt'?: (number | string);
  /**
   * Only in the reply of CreateToken: the secret itself, shown once, stored hashed.
   */
  'token'?: (string);
}

export interface TokenInfo__Output {
  'id': (string);
  'role': (string);
  'label': (string);
  'createdAt': (number);
  /**
   * 0: never.
   */
  'expiresAt': (number);
  /**
   * 0: not revoked.
   */
  'revokedAt': (number);
  /**
   * Only in the reply of CreateToken: the secret itself, shown once, stored hashed.
   */
  'token': (string);
}
