// cr's runtime errors, built in one place. Each has a stable string `code`: across a worker
// thread `instanceof` does not survive, `code` does (see `toErrorRecord` / `fromErrorRecord`).

const CR_ERROR_CODES = [
  'CR_IMAGE_CORRUPT',
  'CR_IMAGE_AUTH',
  'CR_IMAGE_VERSION',
  'CR_STATE_UNCAPTURABLE',
  'CR_REGION_MISMATCH',
  'CR_NO_IMAGE',
  'CR_IDENTITY_MISMATCH',
  'CR_STORE_LOCKED',
  'CR_CHECKPOINT_FAILED',
  'CR_NOT_IN_JOB',
  'CR_KEY_INVALID',
  'CR_JOB_STOPPED',
  'CR_FILE_MISMATCH',
  'CR_JOB_FILE',
] as const;

export type CrErrorCode = (typeof CR_ERROR_CODES)[number];

export class CrError extends Error {
  readonly code: CrErrorCode;
  constructor(code: CrErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Why an image was refused as damaged; lets callers and tests tell the cases apart. */
export type ImageCorruptReason =
  | 'empty'
  | 'truncated'
  | 'foreign'
  | 'footer'
  | 'manifest-hash'
  | 'manifest'
  | 'block'
  | 'base'
  | 'mismatch'
  | 'not-a-file';

/** The image is damaged, truncated, not a cr image, or belongs to another job. */
export class ImageCorruptError extends CrError {
  readonly reason: ImageCorruptReason;
  readonly file: string | null;
  constructor(reason: ImageCorruptReason, message: string, file: string | null = null) {
    super('CR_IMAGE_CORRUPT', file ? `${file}: ${message}` : message);
    this.reason = reason;
    this.file = file;
  }
}

/** The image's tag does not match: written with another key, or altered after it was written. */
export class ImageAuthError extends CrError {
  readonly file: string | null;
  constructor(message: string, file: string | null = null) {
    super('CR_IMAGE_AUTH', file ? `${file}: ${message}` : message);
    this.file = file;
  }
}

/** The image was written in a format version this cr cannot read. */
export class ImageVersionError extends CrError {
  readonly found: number;
  readonly file: string | null;
  /** `oldest`..`newest`: the versions this cr reads. */
  constructor(found: number, oldest: number, newest: number, file: string | null = null) {
    const hint =
      found > newest ? 'it was written by a newer cr: upgrade cr to read it' : 'it was written by an older, unsupported cr';
    const reads = oldest === newest ? `version ${newest}` : `versions ${oldest} to ${newest}`;
    const message = `image format version ${found} is not supported (this cr reads ${reads}): ${hint}`;
    super('CR_IMAGE_VERSION', file ? `${file}: ${message}` : message);
    this.found = found;
    this.file = file;
  }
}

/** A registered state holds a value that cannot be captured; `path` says where it sits. */
export class StateCaptureError extends CrError {
  readonly path: string;
  constructor(path: string, what: string) {
    super('CR_STATE_UNCAPTURABLE', `${path} is ${what}, which cannot be checkpointed`);
    this.path = path;
  }
}

/** A restart asked for a region with another type or length than the image holds. */
export class RegionMismatchError extends CrError {
  constructor(message: string) {
    super('CR_REGION_MISMATCH', message);
  }
}

/** A checkpoint could not be taken or committed (disk full, permissions...). The job goes on. */
export class CheckpointError extends CrError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CR_CHECKPOINT_FAILED', message, options);
  }
}

/**
 * A file opened with `cr.open()` no longer fits the image the job resumes from: an output file
 * is shorter than the length the image recorded, or an input file is shorter than the position
 * it had been read to. Something outside the job changed it; resuming would lose or repeat data.
 */
export class FileMismatchError extends CrError {
  readonly path: string;
  constructor(path: string, message: string) {
    super('CR_FILE_MISMATCH', message);
    this.path = path;
  }
}

/** The image key cannot be read, or is not a key. */
export class KeyError extends CrError {
  constructor(message: string) {
    super('CR_KEY_INVALID', message);
  }
}

/** Another process holds the job's store. */
export class StoreLockedError extends CrError {
  constructor(message: string) {
    super('CR_STORE_LOCKED', message);
  }
}

/** No image could be used (none exists, or none verifies). */
export class NoImageError extends CrError {
  constructor(message: string) {
    super('CR_NO_IMAGE', message);
  }
}

/**
 * An image (or a finished run) was made by other args or code than the job being run: resuming
 * from it would compute something else. `argsDiffer`/`codeDiffers` say which differ.
 */
export class IdentityMismatchError extends CrError {
  readonly argsDiffer: boolean;
  readonly codeDiffers: boolean;
  constructor(message: string, differs: { args: boolean; code: boolean }) {
    super('CR_IDENTITY_MISMATCH', message);
    this.argsDiffer = differs.args;
    this.codeDiffers = differs.code;
  }
}

/** `cr` was used with no job running in this thread. */
export class NotInJobError extends CrError {
  constructor(what: string) {
    super(
      'CR_NOT_IN_JOB',
      `cr.${what}() was called outside a job: call it from the code of a running job (the job file's exported function and what it calls, started by cr's runner)`,
    );
  }
}

/**
 * Thrown out of `cr.checkpoint()` when the runner asked the job to stop (SIGTERM, SIGINT, drain)
 * and its image is committed. Let it propagate: the runner treats it as a clean stop.
 */
export class JobStoppedError extends CrError {
  readonly imageId: string | null;
  constructor(imageId: string | null) {
    super('CR_JOB_STOPPED', `the job was asked to stop; ${imageId ? `checkpointed as ${imageId}` : 'no image was taken'}`);
    this.imageId = imageId;
  }
}

/** Where in a job's source a JobFileError points: 1-based line and column, and the code around it. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
  /** A few lines of the file with the line marked and a caret under the column. */
  frame: string;
}

/**
 * The job's module cannot be loaded as a job: a syntax error, an import that cannot be found, no
 * default export function. It fails the same way on every attempt, so it is not retried. The
 * message starts with `file:line:column:` and ends with a code frame.
 */
export class JobFileError extends CrError {
  readonly file: string;
  readonly location: SourceLocation | null;
  constructor(file: string, what: string, location: SourceLocation | null = null) {
    super('CR_JOB_FILE', location ? `${location.file}:${location.line}:${location.column}: ${what}\n${location.frame}` : `${file}: ${what}`);
    this.file = location?.file ?? file;
    this.location = location;
  }
}

/** Codes that say an image, not the job, is at fault: another image may do where this one did not. */
export function isImageFault(code: string | null): boolean {
  return code === 'CR_IMAGE_CORRUPT' || code === 'CR_IMAGE_AUTH' || code === 'CR_IMAGE_VERSION';
}

/** An error as plain data, to cross a thread or process boundary. */
export interface ErrorRecord {
  name: string;
  code: string | null;
  message: string;
  stack: string | null;
}

export function toErrorRecord(err: unknown): ErrorRecord {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return {
      name: err.name,
      code: typeof code === 'string' ? code : null,
      message: err.message,
      stack: err.stack ?? null,
    };
  }
  return { name: 'Error', code: null, message: `non-error thrown: ${String(err)}`, stack: null };
}

/** cr's error classes that a message alone rebuilds; the others come back as a CrError with their code and name. */
const REBUILT: Partial<Record<CrErrorCode, new (message: string) => CrError>> = {
  CR_CHECKPOINT_FAILED: CheckpointError,
  CR_REGION_MISMATCH: RegionMismatchError,
  CR_KEY_INVALID: KeyError,
  CR_STORE_LOCKED: StoreLockedError,
  CR_NO_IMAGE: NoImageError,
};
const BUILT_IN: Record<string, new (message: string) => Error> = { TypeError, RangeError };

/**
 * The error an ErrorRecord was made from, as near as plain data allows: the same class for cr's
 * errors that take only a message and for TypeError/RangeError, else a CrError (or Error) with
 * the same code, name and message; the stack is the one where it was thrown.
 */
export function fromErrorRecord(record: ErrorRecord): Error {
  const code = record.code;
  const Rebuilt = code !== null ? REBUILT[code as CrErrorCode] : undefined;
  let err: Error;
  if (Rebuilt) err = new Rebuilt(record.message);
  else if (code !== null && (CR_ERROR_CODES as readonly string[]).includes(code)) err = new CrError(code as CrErrorCode, record.message);
  else {
    err = new (BUILT_IN[record.name] ?? Error)(record.message);
    if (code !== null) (err as Error & { code: string }).code = code;
  }
  err.name = record.name;
  if (record.stack !== null) err.stack = record.stack;
  return err;
}
