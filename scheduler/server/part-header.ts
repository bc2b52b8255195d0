// What one stream of an upload declares in its header (docs/protocol.md): the whole image, or one
// part of a parallel upload with its byte range, checked before a byte is written.
import { Refused } from './upload-outcome.js';

/** Parts of one upload, at most (the agent uses a few; more only costs connections). */
export const MAX_UPLOAD_PARTS = 16;

/** What one stream of an upload declares in its header, checked. */
export interface PartHeader {
  uploadId: string;
  attempt: number;
  node: string;
  bytes: number;
  parts: number;
  part: number;
  offset: number;
  length: number;
  /** The image's tail (manifest and footer) sent ahead, if the header has one. */
  tail: Buffer | null;
}

export interface PartMessage {
  chunk?: Buffer;
  sha256?: string;
}

/** A byte range, for messages. */
export const range = (offset: number, length: number): string => `bytes ${offset}–${offset + length}`;

/**
 * The part a header declares, checked against what any header must satisfy; a one-stream upload
 * (parts 0) is part 0 of 1, the whole image, under an id of its own.
 */
export function partHeader(
  h: { attempt: number; node: string; bytes: number; parts?: number; part?: number; offset?: number; length?: number; uploadId?: string; tail?: Buffer },
  ownId: string,
): PartHeader {
  const parts = h.parts ?? 0;
  const tail = h.tail !== undefined && h.tail.length > 0 ? h.tail : null;
  if (!Number.isSafeInteger(h.bytes) || h.bytes < 0) throw new Refused(false, `an image of ${h.bytes} bytes cannot be stored`);
  if (parts === 0) return { uploadId: ownId, attempt: h.attempt, node: h.node, bytes: h.bytes, parts: 1, part: 0, offset: 0, length: h.bytes, tail };
  const { part = 0, offset = 0, length = 0, uploadId = '' } = h;
  if (parts > MAX_UPLOAD_PARTS) throw new Refused(false, `an upload has at most ${MAX_UPLOAD_PARTS} parts, this one announces ${parts}`);
  if (part >= parts) throw new Refused(false, `part ${part} of an upload of ${parts} parts (they are numbered from 0)`);
  if (!/^[A-Za-z0-9_-]{8,64}$/.test(uploadId)) throw new Refused(false, 'a parallel upload names its upload_id (8 to 64 letters, digits, "-" or "_") in every part');
  if (length === 0) throw new Refused(false, `part ${part} of ${parts} is empty: every part holds at least one byte`);
  if (!Number.isSafeInteger(offset + length) || offset + length > h.bytes) throw new Refused(false, `part ${part} (${range(offset, length)}) passes the end of the ${h.bytes}-byte image`);
  return { uploadId, attempt: h.attempt, node: h.node, bytes: h.bytes, parts, part, offset, length, tail };
}
