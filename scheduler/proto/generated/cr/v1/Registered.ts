// Original file: scheduler/proto/cr.proto


export interface Registered {
  'session'?: (string);
  /**
   * The cluster's image key (32 bytes); only over an authenticated connection (TLS off loopback).
   */
  'imageKey'?: (Buffer | Uint8Array | string);
  'leaseTimeoutMs'?: (number);
  'heartbeatIntervalMs'?: (number);
  /**
   * The shared image store (serve --images): a directory every node mounts, or s3://bucket/prefix.
   * Empty: images travel over UploadImage/DownloadImage. Agents write and read it directly and
   * record each image with an UploadImage whose header has `stored_sha256`.
   */
  'imageStore'?: (string);
  /**
   * For an S3-compatible store: the endpoint URL (empty: AWS's, from the agent's own AWS config).
   * Credentials and region are the agent's own (AWS environment and config files).
   */
  'imageStoreEndpoint'?: (string);
}

export interface Registered__Output {
  'session': (string);
  /**
   * The cluster's image key (32 bytes); only over an authenticated connection (TLS off loopback).
   */
  'imageKey': (Buffer);
  'leaseTimeoutMs': (number);
  'heartbeatIntervalMs': (number);
  /**
   * The shared image store (serve --images): a directory every node mounts, or s3://bucket/prefix.
   * Empty: images travel over UploadImage/DownloadImage. Agents write and read it directly and
   * record each image with an UploadImage whose header has `stored_sha256`.
   */
  'imageStore': (string);
  /**
   * For an S3-compatible store: the endpoint URL (empty: AWS's, from the agent's own AWS config).
   * Credentials and region are the agent's own (AWS environment and config files).
   */
  'imageStoreEndpoint': (string);
}
