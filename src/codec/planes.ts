// Plane-coded blocks (docs/image-format.md, "Plane-coded blocks") in JS: the portable codec's
// decoder and the well-formedness rule both codecs apply. The addon writes these blocks
// (native/src/planes.cc); this file reads them the same way, byte for byte.
import { unshuffle } from './shuffle.js';
import { zstdCompressBound, zstdFrameContentSize } from './zstd-frame.js';

/** Predictors, by the code the block's first byte holds. */
export const PREDICTOR_NONE = 0;
export const PREDICTOR_DELTA = 1;
export const PREDICTOR_LINE = 2;
export const PLANE_RAW = 0;
export const PLANE_ZSTD = 1;

/** Predictor, element size, then per plane its coding (1 byte) and stored length (4 bytes LE). */
export function planesHeaderLength(elementSize: number): number {
  return 2 + 5 * elementSize;
}

interface PlaneLayout {
  predictor: number;
  elementSize: number;
  /** Bytes per plane: floor(rawLength / elementSize). */
  n: number;
  codings: number[];
  offsets: number[];
  lengths: number[];
  /** Where the tail (rawLength % elementSize bytes, stored as they are) starts. */
  tailOffset: number;
}

function layout(stored: Uint8Array, rawLength: number): PlaneLayout | null {
  if (stored.length < 2) return null;
  const predictor = stored[0]!;
  const es = stored[1]!;
  if (predictor > PREDICTOR_LINE || (es !== 2 && es !== 4 && es !== 8)) return null;
  const header = planesHeaderLength(es);
  const n = Math.floor(rawLength / es);
  if (stored.length < header || n === 0) return null;
  const codings: number[] = [];
  const offsets: number[] = [];
  const lengths: number[] = [];
  let pos = header;
  for (let b = 0; b < es; b++) {
    const coding = stored[2 + 5 * b]!;
    const at = 3 + 5 * b;
    const length = (stored[at]! | (stored[at + 1]! << 8) | (stored[at + 2]! << 16) | (stored[at + 3]! << 24)) >>> 0;
    if (length > stored.length - pos) return null;
    if (coding === PLANE_RAW) {
      if (length !== n) return null;
    } else if (coding === PLANE_ZSTD) {
      if (length > zstdCompressBound(n) || zstdFrameContentSize(stored.subarray(pos, pos + length)) !== n) return null;
    } else {
      return null;
    }
    codings.push(coding);
    offsets.push(pos);
    lengths.push(length);
    pos += length;
  }
  if (stored.length - pos !== rawLength - n * es) return null;
  return { predictor, elementSize: es, n, codings, offsets, lengths, tailOffset: pos };
}

/**
 * Whether `stored` is a well-formed plane-coded block of rawLength bytes: a known predictor, an
 * element size of 2, 4 or 8, defined codings, raw planes of exactly rawLength / elementSize
 * bytes, zstd planes of exactly one frame of that content size, and lengths that add up.
 */
export function planesAreWellFormed(stored: Uint8Array, rawLength: number): boolean {
  return layout(stored, rawLength) !== null;
}

/**
 * Decodes a plane-coded block into `out` (exactly rawLength bytes). `decompress` inflates one
 * zstd frame (null on failure). False when the block is malformed, a frame does not inflate to
 * its plane, or the block's element size is not `elementSize`.
 */
export function decodePlanes(
  stored: Uint8Array,
  out: Uint8Array,
  elementSize: number,
  decompress: (frame: Uint8Array) => Uint8Array | null,
): boolean {
  const l = layout(stored, out.length);
  if (l === null || l.elementSize !== elementSize) return false;
  const { n, predictor } = l;
  const body = n * elementSize;
  // The planes side by side, as `unshuffle` takes them.
  const planes = new Uint8Array(body);
  for (let b = 0; b < elementSize; b++) {
    const segment = stored.subarray(l.offsets[b]!, l.offsets[b]! + l.lengths[b]!);
    if (l.codings[b] === PLANE_RAW) {
      planes.set(segment, b * n);
      continue;
    }
    let plane: Uint8Array | null;
    try {
      plane = decompress(segment);
    } catch {
      plane = null;
    }
    if (!(plane instanceof Uint8Array) || plane.length !== n) return false;
    planes.set(plane, b * n);
  }
  unshuffle(planes, out.subarray(0, body), elementSize);
  if (predictor !== PREDICTOR_NONE) restore(out.subarray(0, body), elementSize, predictor === PREDICTOR_LINE);
  out.set(stored.subarray(l.tailOffset), body);
  return true;
}

/**
 * Undoes the prediction in place: each element holds zigzag(x[i] - prediction), in integers of
 * elementSize bytes modulo 2^(8·elementSize), the two elements before the block taken as 0.
 * 64-bit elements are worked as two 32-bit halves with a carry.
 */
function restore(buf: Uint8Array, es: number, line: boolean): void {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const count = buf.length / es;
  if (es === 8) {
    let xl = 0;
    let xh = 0;
    let dl = 0;
    let dh = 0;
    for (let i = 0, at = 0; i < count; i++, at += 8) {
      const zl = view.getUint32(at, true);
      const zh = view.getUint32(at + 4, true);
      // unzigzag: (z >>> 1) ^ -(z & 1), over 64 bits
      let rl = ((zl >>> 1) | ((zh & 1) << 31)) >>> 0;
      let rh = zh >>> 1;
      if (zl & 1) {
        rl = ~rl >>> 0;
        rh = ~rh >>> 0;
      }
      if (line) {
        const sl = dl + rl;
        dh = (dh + rh + (sl > 0xffffffff ? 1 : 0)) >>> 0;
        dl = sl >>> 0;
        rl = dl;
        rh = dh;
      }
      const s = xl + rl;
      xh = (xh + rh + (s > 0xffffffff ? 1 : 0)) >>> 0;
      xl = s >>> 0;
      view.setUint32(at, xl, true);
      view.setUint32(at + 4, xh, true);
    }
    return;
  }
  const bits = es * 8;
  const mask = es === 4 ? 0xffffffff : 0xffff;
  const get = es === 4 ? (at: number) => view.getUint32(at, true) : (at: number) => view.getUint16(at, true);
  const set = es === 4 ? (at: number, v: number) => view.setUint32(at, v, true) : (at: number, v: number) => view.setUint16(at, v, true);
  let x = 0;
  let d = 0;
  for (let i = 0, at = 0; i < count; i++, at += es) {
    const z = get(at);
    // (z >>> 1) ^ -(z & 1), kept within `bits` bits
    let r = z & 1 ? ~(z >>> 1) : z >>> 1;
    r = bits === 32 ? r >>> 0 : r & mask;
    if (line) {
      d = bits === 32 ? (d + r) >>> 0 : (d + r) & mask;
      r = d;
    }
    x = bits === 32 ? (x + r) >>> 0 : (x + r) & mask;
    set(at, x);
  }
}
