// The one commit path of a checkpoint: encode and write the image as planned (the writer waits for
// staged blocks still being copied in), and commit it with the store's protocol (temp file, fsync,
// link, dir fsync). The image writer thread runs it for a staged image, the job's thread for one
// that could not be staged; either way it fails with one CrError, made here.
import { CheckpointError, CrError } from '../errors.js';
import { imageId } from '../image/format.js';
import type { ImagePlan } from '../image/plan.js';
import type { SectionInput } from '../image/sections.js';
import type { ImageHeaderInfo, ImageWriter, WrittenImage } from '../image/writer.js';
import type { LocalStore } from '../store/local-store.js';

/** One image to commit: plain data, so that it crosses to the image writer thread as it is. */
export interface CommitRequest {
  header: ImageHeaderInfo;
  sections: SectionInput[];
  plan: ImagePlan;
}

export interface CommittedImage extends WrittenImage {
  /** The image's path in the store. */
  file: string;
  /** What the store warned of while committing (retention), for the job. */
  warnings: string[];
}

export interface CommitOptions {
  /** Write the blocks with O_DIRECT where the file system offers it (image/direct-sink.ts). */
  direct: boolean;
  /** Collects the store's warnings since the last commit; null when the store reports them itself. */
  warnings: string[] | null;
}

/** Encodes, writes and commits `request`; rejects with checkpointFailure's CrError. */
export async function commitImage(store: LocalStore, writer: ImageWriter, request: CommitRequest, options: CommitOptions): Promise<CommittedImage> {
  const { header, sections, plan } = request;
  try {
    const { file, result } = await store.commit(header.job, header.sequence, (handle, temp) =>
      writer.write(handle, header, sections, plan, options.direct ? { path: temp } : null),
    );
    return { ...result, file, warnings: options.warnings?.splice(0) ?? [] };
  } catch (err) {
    throw checkpointFailure(err, header.job, header.sequence);
  }
}

/** What the job sees of a failed checkpoint: a CrError as it is, anything else as a CheckpointError saying what failed. */
export function checkpointFailure(err: unknown, job: string, sequence: number | null): CrError {
  if (err instanceof CrError) return err;
  const what = sequence === null ? 'a checkpoint' : `checkpoint ${imageId(job, sequence)}`;
  return new CheckpointError(`${what} of job "${job}" failed: ${describeIoError(err)}; the previous image stays the latest and the job goes on`, { cause: err });
}

/** The system error code (ENOSPC, EIO...) of `err` or of the first of its causes that has one; null: none. */
export function systemErrorCode(err: unknown): string | null {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code;
  }
  return null;
}

function describeIoError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOSPC') return 'the disk is full (ENOSPC)';
  if (e?.code === 'EDQUOT') return 'the disk quota is exceeded (EDQUOT)';
  if (e?.code === 'EACCES' || e?.code === 'EPERM') return `permission denied (${e.code}) writing ${e.path ?? 'the store'}`;
  return e?.message ?? String(err);
}
