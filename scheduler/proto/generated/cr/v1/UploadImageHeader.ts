// Original file: scheduler/proto/cr.proto

import type { Long } from '@grpc/proto-loader';

export interface UploadImageHeader {
  'job'?: (number);
  'attempt'?: (number);
  'sequence'?: (number);
  /**
   * The whole image's size, in every part.
   */
  'bytes'?: (number | string | Long);
  'node'?: (string);
  /**
   * A parallel upload: this stream is part `part` (from 0) of `parts`, bytes [offset,
   * offset + length) of the image; all parts of one upload carry the same `upload_id` (new for
   * each try). parts 0: one stream carries the whole image (the other fields are ignored).
   */
  'parts'?: (number);
  'part'?: (number);
  'offset'?: (number | string | Long);
  'length'?: (number | string | Long);
  'uploadId'?: (string);
  /**
   * Optional: the image's last bytes, from its manifest's offset to its end (manifest and
   * footer), sent ahead so that the scheduler hashes each block as its bytes stream past instead
   * of reading the image back to verify it. Not trusted: a block counts as checked only when the
   * hash of the bytes received where it lies matches the manifest read from the stored file.
   */
  'tail'?: (Buffer | Uint8Array | string);
  /**
   * The attempt's secret (Assignment.secret).
   */
  'secret'?: (string);
  /**
   * What the checkpoint cost the job, as its node measured it (for people: the dashboard's
   * timeline); 0 when unknown. Bytes of state and region data the image holds, the job's pause
   * in checkpoint(), and the time from the end of the pause to the durable image on the node.
   */
  'rawBytes'?: (number | string | Long);
  'pauseMs'?: (number | string);
  'commitMs'?: (number | string);
  /**
   * Set when the image is already in the shared image store (Registered.image_store), under its
   * attempt's name, with this digest (a pieces digest "<sha256 hex>-<pieces>", or from agents
   * before it a whole sha256): the stream is this header alone. The scheduler records it
   * after checking its size, tag and manifest from the store.
   */
  'storedSha256'?: (string);
}

export interface UploadImageHeader__Output {
  'job': (number);
  'attempt': (number);
  'sequence': (number);
  /**
   * The whole image's size, in every part.
   */
  'bytes': (number);
  'node': (string);
  /**
   * A parallel upload: this stream is part `part` (from 0) of `parts`, bytes [offset,
   * offset + length) of the image; all parts of one upload carry the same `upload_id` (new for
   * each try). parts 0: one stream carries the whole image (the other fields are ignored).
   */
  'parts': (number);
  'part': (number);
  'offset': (number);
  'length': (number);
  'uploadId': (string);
  /**
   * Optional: the image's last bytes, from its manifest's offset to its end (manifest and
   * footer), sent ahead so that the scheduler hashes each block as its bytes stream past instead
   * of reading the image back to verify it. Not trusted: a block counts as checked only when the
   * hash of the bytes received where it lies matches the manifest read from the stored file.
   */
  'tail': (Buffer);
  /**
   * The attempt's secret (Assignment.secret).
   */
  'secret': (string);
  /**
   * What the checkpoint cost the job, as its node measured it (for people: the dashboard's
   * timeline); 0 when unknown. Bytes of state and region data the image holds, the job's pause
   * in checkpoint(), and the time from the end of the pause to the durable image on the node.
   */
  'rawBytes': (number);
  'pauseMs': (number);
  'commitMs': (number);
  /**
   * Set when the image is already in the shared image store (Registered.image_store), under its
   * attempt's name, with this digest (a pieces digest "<sha256 hex>-<pieces>", or from agents
   * before it a whole sha256): the stream is this header alone. The scheduler records it
   * after checking its size, tag and manifest from the store.
   */
  'storedSha256': (string);
}
