// zstd frame arithmetic shared by the portable codec and the plane-coded block format: the bound
// of a frame's size and a strict reading of one frame's header and block headers (RFC 8878).
const ZSTD_MAGIC = 0xfd2fb528;
const ZSTD_BLOCKSIZE_MAX = 128 * 1024;

/** ZSTD_COMPRESSBOUND(n): the most bytes one zstd frame of n input bytes can take. */
export function zstdCompressBound(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`zstdCompressBound: length must be a non-negative safe integer, got ${n}`);
  }
  // Math.floor rather than >> keeps lengths above 2 GiB exact.
  return n + Math.floor(n / 256) + (n < ZSTD_BLOCKSIZE_MAX ? Math.floor((ZSTD_BLOCKSIZE_MAX - n) / 2048) : 0);
}

/**
 * The content size a zstd frame declares, or null unless `frame` is exactly one structurally
 * sound frame (RFC 8878, 3.1.1) with a content size and no dictionary.
 *
 * zstd-codec sizes its output from the declared content size inside a fixed 16 MiB heap; a frame
 * that declares too much makes it abort ("OOM"). Reading the header here first bounds what it is
 * ever asked to allocate. Walking the block headers as well refuses trailing bytes and a second
 * frame, which zstd-codec and libzstd would treat differently.
 */
export function zstdFrameContentSize(frame: Uint8Array): number | null {
  const len = frame.length;
  if (len < 5) return null;
  const magic = (frame[0]! | (frame[1]! << 8) | (frame[2]! << 16) | (frame[3]! << 24)) >>> 0;
  if (magic !== ZSTD_MAGIC) return null;
  const fhd = frame[4]!;
  const fcsFlag = fhd >>> 6;
  const singleSegment = (fhd >>> 5) & 1;
  const reserved = (fhd >>> 3) & 1;
  const hasChecksum = (fhd >>> 2) & 1;
  const didFlag = fhd & 3;
  if (reserved !== 0) return null;
  let p = 5;

  let windowSize = 0;
  if (!singleSegment) {
    if (p >= len) return null;
    const wd = frame[p++]!;
    const windowBase = 2 ** (10 + (wd >>> 3));
    windowSize = windowBase + (windowBase / 8) * (wd & 7);
  }

  const didSize = didFlag === 0 ? 0 : didFlag === 1 ? 1 : didFlag === 2 ? 2 : 4;
  if (p + didSize > len) return null;
  for (let k = 0; k < didSize; k++) {
    // Our writers never use a dictionary, and without it the frame cannot be decoded.
    if (frame[p + k] !== 0) return null;
  }
  p += didSize;

  const fcsSize = fcsFlag === 0 ? (singleSegment ? 1 : 0) : fcsFlag === 1 ? 2 : fcsFlag === 2 ? 4 : 8;
  // Both writers record the content size; a frame without one could only be hostile.
  if (fcsSize === 0) return null;
  if (p + fcsSize > len) return null;
  let contentSize = 0;
  for (let k = fcsSize - 1; k >= 0; k--) contentSize = contentSize * 256 + frame[p + k]!;
  if (fcsSize === 2) contentSize += 256;
  p += fcsSize;
  if (singleSegment) windowSize = contentSize;

  const blockMax = Math.min(windowSize, ZSTD_BLOCKSIZE_MAX);
  for (;;) {
    if (p + 3 > len) return null;
    const header = frame[p]! | (frame[p + 1]! << 8) | (frame[p + 2]! << 16);
    p += 3;
    const last = header & 1;
    const type = (header >>> 1) & 3;
    const size = header >>> 3;
    if (type === 3 || size > blockMax) return null;
    // An RLE block stores one byte however many it stands for.
    p += type === 1 ? 1 : size;
    if (p > len) return null;
    if (last) break;
  }
  if (hasChecksum) p += 4;
  return p === len ? contentSize : null;
}
