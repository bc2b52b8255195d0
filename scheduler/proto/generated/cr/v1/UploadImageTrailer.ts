// Original file: scheduler/proto/cr.proto


/**
 * Sent after the last chunk: the sha256 of the bytes this stream sent (the whole image, or this
 * part), computed while they were sent.
 */
export interface UploadImageTrailer {
  'sha256'?: (string);
}

/**
 * Sent after the last chunk: the sha256 of the bytes this stream sent (the whole image, or this
 * part), computed while they were sent.
 */
export interface UploadImageTrailer__Output {
  'sha256': (string);
}
