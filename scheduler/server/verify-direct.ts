// The check of every block's stored hash (ImageReader.verifyStored) for an image the scheduler
// wrote past the page cache (upload parts written with O_DIRECT): reading it back buffered would
// allocate page-cache pages for bytes read once, which costs more CPU than the hashing. So the
// file's block area is read once, in order, through an O_DIRECT descriptor into page-aligned
// staging, the next piece read while this one is hashed in passing (passing-blocks.ts, with the
// ranges of the reader's authenticated manifest). verifyStored then reads only what did not
// pass whole: blocks held by a base, blocks the one pass cannot take (out of order,
// overlapping), and damaged ones, so a damaged image is refused with the error verifyStored names.
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { ImageCorruptError } from '../../src/index.js';
import { DIRECT_ALIGN, DIRECT_CHUNK, openDirect, type BlockCodec, type DirectStaging, type ImageReader } from '../../src/internal.js';
import { PassingBlocks, type PassingStream } from '../passing-blocks.js';

/**
 * Checks every stored block of `reader`'s image, reading its own file once through O_DIRECT into
 * `staging`. Without O_DIRECT (or the addon), or when a direct read fails, this is
 * `reader.verifyStored()`.
 */
export async function verifyStoredDirect(reader: ImageReader, codec: BlockCodec, staging: DirectStaging): Promise<void> {
  const direct = await openDirect(reader.file, fs.constants.O_RDONLY);
  if (direct === null) return reader.verifyStored();
  const passing = PassingBlocks.fromManifest(codec, reader.manifest);
  let read: boolean;
  try {
    read = await readInOrder(direct, reader.blocksEnd, staging.buffers, passing.stream(0)).then(
      () => true,
      () => false,
    );
  } finally {
    await direct.close();
  }
  // A direct read the file system refused: verifyStored reads it all, and reports a read error itself.
  if (!read) return reader.verifyStored();
  reader.verifyStored(passing);
  if (passing.sawDamage()) {
    // The one pass saw a damaged block that the ordinary read then found whole: a disk that
    // returns different bytes for the same place is not one to keep an image on either.
    throw new ImageCorruptError('block', 'a block read back differently on two reads of the file', reader.file);
  }
}

/**
 * Passes the file's bytes [0, blocksEnd rounded up to DIRECT_ALIGN) to `stream`, in DIRECT_CHUNK
 * pieces alternating between the two `buffers`, piece k + 1 read while piece k is hashed. Stops
 * early where the file ends.
 */
async function readInOrder(direct: FileHandle, blocksEnd: number, buffers: Uint8Array[], stream: PassingStream): Promise<void> {
  const end = Math.ceil(blocksEnd / DIRECT_ALIGN) * DIRECT_ALIGN;
  const read = async (piece: number): Promise<number> => {
    const position = piece * DIRECT_CHUNK;
    if (position >= end) return 0;
    return (await direct.read(buffers[piece % 2]!, 0, Math.min(DIRECT_CHUNK, end - position), position)).bytesRead;
  };
  let next = read(0);
  try {
    for (let piece = 0; ; piece++) {
      const got = await next;
      if (got === 0) return;
      next = read(piece + 1);
      next.catch(() => undefined);
      // `pass` hashes (or copies) the bytes before it returns: the buffer is free for piece k + 2.
      stream.pass(buffers[piece % 2]!.subarray(0, got));
      if (got < DIRECT_CHUNK) return;
    }
  } finally {
    await next.catch(() => undefined);
  }
}
