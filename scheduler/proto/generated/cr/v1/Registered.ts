// Original file: scheduler/proto/cr.proto


export interface Registered {
  'session'?: (string);
  /**
   * The cluster's image key (32 bytes); only over an authenticated connection (TLS off loopback).
   */
  'imageKey'?: (Buffer | Uint8Array | string);
  'leaseTimeoutMs'?: (number);
  'heartbeatIntervalMs'?: (number);
}

export interface Registered__Output {
  'session': (string);
  /**
   * The cluster's image key (32 bytes); only over an authenticated connection (TLS off loopback).
   */
  'imageKey': (Buffer);
  'leaseTimeoutMs': (number);
  'heartbeatIntervalMs': (number);
}
