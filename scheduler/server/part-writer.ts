// How the bytes of one stream of an upload (the whole image, or one part) reach the commit's
// temp file: through a direct sink (O_DIRECT, from page-aligned staging) or through the page
// cache at their offsets. Either way every byte counted as written is on the file: a short
// write is continued, since a hole would go unnoticed (the blocks hashed as they passed are not
// read back).
import type { FileHandle } from 'node:fs/promises';
import { type DirectSink, writeAll } from '../../src/internal.js';

/** Where one stream's chunks go, in order; `finish` after the last, `close` in any case. */
export interface PartWriter {
  write(chunk: Buffer, position: number): Promise<void>;
  finish(): Promise<void>;
  close(): Promise<void>;
}

/** A write to the temp file failed: the disk's fault (full, failing), not the sender's. */
export class DiskError extends Error {
  constructor(override readonly cause: Error) {
    super(cause.message);
  }
}

/**
 * Chunks written positionally through the page cache (parts write into their own ranges of one
 * file, in any order); `written` is told each chunk's length after it is written.
 */
export function bufferedPartWriter(handle: FileHandle, written: (bytes: number) => void): PartWriter {
  return {
    write: async (chunk, position) => {
      await writeAll(handle, chunk, position).catch((err: Error) => {
        throw new DiskError(err);
      });
      written(chunk.length);
    },
    finish: async () => undefined,
    close: async () => undefined,
  };
}

/**
 * A stream written through a direct sink: each chunk is copied into staging at once (so
 * grpc-js's message dies young, which spares the garbage collector), full staging pieces go to
 * the disk behind; the unaligned tail of the image, if this stream ends there, through the
 * ordinary handle. `release` gives the staging back, once, when the writer is closed.
 */
export function directPartWriter(handle: FileHandle, sink: DirectSink, release: () => void): PartWriter {
  let closed = false;
  return {
    write: async (chunk) => {
      await sink.append([chunk]).catch((err: Error) => {
        throw new DiskError(err);
      });
    },
    finish: async () => {
      const { tail, position } = await sink.finish();
      if (tail.length > 0) await writeAll(handle, tail, position);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await sink.close();
      release();
    },
  };
}
