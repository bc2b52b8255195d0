// A shared image store (`serve --images DIR-or-URL`): where agents write a job's images and
// read them back directly, so that image bytes never pass through the scheduler. Two kinds: a
// POSIX directory every node mounts (directory.ts) and S3-compatible object storage (s3.ts);
// open.ts picks one from the location.
//
// An object is immutable once written: `put` never replaces one (a second put of the same name
// with the same bytes is a retry and succeeds; other bytes are refused). Names carry the attempt
// that wrote the image, so a stale attempt's late write never collides with the current one's.
// Nothing in a store counts until the scheduler has recorded it (images.ts): an object without
// a record is a write that did not finish or was not accepted, removed with its job.
import type { DigestKind } from './digest.js';
import { storeJobName } from '../names.js';
import { paddedSequence } from '../../src/internal.js';

export interface SharedStore {
  /** Where it is, as agents are told (Registered.image_store): a directory path or s3://bucket/prefix. */
  readonly location: string;
  /** Writes `file` as object `name`, atomically; resolves with the pieces digest (digest.ts) of what was written. */
  put(name: string, file: string): Promise<{ bytes: number; sha256: string }>;
  /** Copies object `name` into `file` (temp, then rename); resolves with what arrived and its digest of `kind` (the recorded one's). */
  fetch(name: string, file: string, kind: DigestKind): Promise<{ bytes: number; sha256: string }>;
  /** The object's size in bytes; null when there is none of that name. */
  size(name: string): Promise<number | null>;
  /** Bytes [position, position + length) of object `name`. */
  read(name: string, position: number, length: number): Promise<Buffer>;
  /** Removes these objects; one that is already gone is not an error. */
  remove(names: readonly string[]): Promise<void>;
  /** Removes every object under `prefix` (a job's images, also those never recorded). */
  removeAll(prefix: string): Promise<void>;
  close(): void;
}

export type SharedStoreErrorCode = 'CR_IMAGE_STORE_MISSING' | 'CR_IMAGE_STORE_EXISTS' | 'CR_IMAGE_STORE_FAILED' | 'CR_IMAGE_STORE_LOCATION';

/**
 * A store's failure. MISSING: no object of that name (a restore falls back to the image before
 * it); EXISTS: a put would replace other bytes; FAILED: the store could not be reached or
 * refused (a retry may work); LOCATION: `--images` does not name a usable store.
 */
export class SharedStoreError extends Error {
  override readonly name = 'SharedStoreError';
  constructor(
    readonly code: SharedStoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The object that holds image `sequence` of `job`, written by `attempt`. */
export function objectName(job: number, sequence: number, attempt: number): string {
  return `${jobPrefix(job)}${paddedSequence(sequence)}-a${attempt}.crimg`;
}

/** The prefix of every object of `job`. */
export function jobPrefix(job: number): string {
  return `${storeJobName(job)}/`;
}

/** Names are made by objectName: letters, digits, "-", ".", one "/"; anything else is refused. */
export function checkName(name: string): void {
  if (!/^job-[0-9]+\/([0-9A-Za-z-]+\.crimg)?$/.test(name)) throw new SharedStoreError('CR_IMAGE_STORE_LOCATION', `${JSON.stringify(name)} is not an image store name`);
}
