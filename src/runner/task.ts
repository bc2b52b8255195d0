// The message shapes between the runner (main thread) and the worker that runs one attempt.
import type { MessagePort } from 'node:worker_threads';
import type { CapturePreference } from '../capture/cow.js';
import type { DirtyPreference } from '../capture/dirty.js';
import type { ErrorRecord } from '../errors.js';
import type { JobIdentity } from '../image/format.js';
import type { ImageCommitted } from '../job/context.js';
import type { CheckpointFailed } from '../pipeline/checkpointer.js';
import type { PolicyOptions } from '../policy.js';
import type { ImageInfo } from '../restore.js';

export type CodecPreference = 'auto' | 'native' | 'portable';

export interface JobTask {
  /** file: URL of the job module. */
  jobUrl: string;
  args: unknown;
  job: string;
  storeDir: string;
  keyFile: string | null;
  keepImages: number;
  /** An explicit image file to restore from; else the store's latest. */
  from: string | null;
  /** Image sequences not to restore from (they failed while restoring in an earlier attempt). */
  skipSequences: number[];
  /** What this run computes: recorded in its images, checked against the image it resumes from. */
  identity: JobIdentity;
  /** Resume from an image made by other code (the args must still match). */
  allowCodeChange: boolean;
  attempt: number;
  policy: PolicyOptions;
  /** Every fullEvery-th image is full, the others incremental. */
  fullEvery: number;
  dirty: DirtyPreference;
  capture: CapturePreference;
  level: number;
  codec: CodecPreference;
  /** Int32Array control word, see policy.ts CONTROL_*. */
  control: SharedArrayBuffer;
  port: MessagePort;
}

export type JobTaskResult =
  | { status: 'succeeded'; result: unknown }
  | { status: 'stopped'; imageId: string | null }
  | { status: 'failed'; error: ErrorRecord; restoringFrom: number | null };

/** Posted by the worker on the task's port while the job runs. */
export type JobEvent =
  | { type: 'started'; attempt: number; image: ImageInfo | null; codec: string; skipped: { file: string; error: string }[] }
  | { type: 'progress'; fraction: number; message: string | null }
  | { type: 'log'; line: string }
  | { type: 'warning'; message: string }
  | { type: 'checkpoint'; info: ImageCommitted }
  | { type: 'checkpoint-failed'; failure: CheckpointFailed };
