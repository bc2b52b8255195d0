// Byte-plane shuffle of docs/image-format.md, "Blocks", step 2, for the portable codec. It must
// produce the addon's bytes exactly: with n = floor(len / es), dst[b*n + i] = src[i*es + b], and
// the len % es tail is copied unchanged after the planes.
//
// Each element size gets its own loop so that V8 sees a constant stride; the generic loop is only
// for element sizes the format does not use. When both views are 4-byte aligned and the element
// count is a multiple of 4 (every whole block of a power-of-two block size), the loops move 32-bit
// words and transpose 4×4 bytes in registers: two to three times the speed of the byte loops,
// which matters because unshuffling with them took about a third of the portable decoder's time.

function checkArgs(src: Uint8Array, dst: Uint8Array, elementSize: number): void {
  if (!(src instanceof Uint8Array) || !(dst instanceof Uint8Array)) {
    throw new TypeError('shuffle: src and dst must be Uint8Arrays');
  }
  if (!Number.isInteger(elementSize) || elementSize < 1 || elementSize > 255) {
    throw new RangeError(`shuffle: elementSize must be an integer from 1 to 255, got ${elementSize}`);
  }
  if (dst.length < src.length) {
    throw new RangeError(`shuffle: dst holds ${dst.length} bytes, src has ${src.length}`);
  }
  // Every output byte depends on input bytes spread over the whole block, so an in-place or
  // overlapping call would read bytes it has already overwritten.
  if (src.buffer === dst.buffer && src.length > 0) {
    const a = src.byteOffset;
    const b = dst.byteOffset;
    if (a < b + src.length && b < a + src.length) {
      throw new RangeError('shuffle: src and dst overlap');
    }
  }
}

// Uint32Array views read bytes in the host's order; the word loops assume little-endian.
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

function wordsFit(src: Uint8Array, dst: Uint8Array, n: number): boolean {
  return LITTLE_ENDIAN && n % 4 === 0 && src.byteOffset % 4 === 0 && dst.byteOffset % 4 === 0;
}

/** dst[b*n + i] = src[i*es + b] for n = floor(len/es); the len % es tail is copied. */
export function shuffle(src: Uint8Array, dst: Uint8Array, elementSize: number): void {
  checkArgs(src, dst, elementSize);
  const len = src.length;
  const n = Math.floor(len / elementSize);
  const body = n * elementSize;
  if (elementSize > 1 && n > 0 && wordsFit(src, dst, n)) {
    const s32 = new Uint32Array(src.buffer, src.byteOffset, body / 4);
    const d32 = new Uint32Array(dst.buffer, dst.byteOffset, body / 4);
    if (elementSize === 2) {
      shuffleWords2(s32, d32, n / 4);
      if (body < len) dst.set(src.subarray(body, len), body);
      return;
    }
    if (elementSize === 4) {
      transposeWords4(s32, d32, n / 4, false);
      if (body < len) dst.set(src.subarray(body, len), body);
      return;
    }
    if (elementSize === 8) {
      transposeWords8(s32, d32, n / 4, false);
      if (body < len) dst.set(src.subarray(body, len), body);
      return;
    }
  }
  switch (elementSize) {
    case 1:
      dst.set(src);
      return;
    case 2:
      shuffle2(src, dst, n);
      break;
    case 4:
      shuffle4(src, dst, n);
      break;
    case 8:
      shuffle8(src, dst, n);
      break;
    default:
      for (let b = 0; b < elementSize; b++) {
        const base = b * n;
        for (let i = 0; i < n; i++) dst[base + i] = src[i * elementSize + b]!;
      }
  }
  if (body < len) dst.set(src.subarray(body, len), body);
}

/** Inverse of `shuffle`: dst[i*es + b] = src[b*n + i]; the tail is copied. */
export function unshuffle(src: Uint8Array, dst: Uint8Array, elementSize: number): void {
  checkArgs(src, dst, elementSize);
  const len = src.length;
  const n = Math.floor(len / elementSize);
  const body = n * elementSize;
  if (elementSize > 1 && n > 0 && wordsFit(src, dst, n)) {
    const s32 = new Uint32Array(src.buffer, src.byteOffset, body / 4);
    const d32 = new Uint32Array(dst.buffer, dst.byteOffset, body / 4);
    if (elementSize === 2) {
      unshuffleWords2(s32, d32, n / 4);
      if (body < len) dst.set(src.subarray(body, len), body);
      return;
    }
    if (elementSize === 4) {
      transposeWords4(s32, d32, n / 4, true);
      if (body < len) dst.set(src.subarray(body, len), body);
      return;
    }
    if (elementSize === 8) {
      transposeWords8(s32, d32, n / 4, true);
      if (body < len) dst.set(src.subarray(body, len), body);
      return;
    }
  }
  switch (elementSize) {
    case 1:
      dst.set(src);
      return;
    case 2:
      unshuffle2(src, dst, n);
      break;
    case 4:
      unshuffle4(src, dst, n);
      break;
    case 8:
      unshuffle8(src, dst, n);
      break;
    default:
      for (let b = 0; b < elementSize; b++) {
        const base = b * n;
        for (let i = 0; i < n; i++) dst[i * elementSize + b] = src[base + i]!;
      }
  }
  if (body < len) dst.set(src.subarray(body, len), body);
}

// One pass over the input writing every plane at once reads each source byte once, in order,
// which measured faster than one pass per plane for these sizes.

function shuffle2(src: Uint8Array, dst: Uint8Array, n: number): void {
  for (let i = 0, j = 0; i < n; i++, j += 2) {
    dst[i] = src[j]!;
    dst[n + i] = src[j + 1]!;
  }
}

function shuffle4(src: Uint8Array, dst: Uint8Array, n: number): void {
  const p1 = n;
  const p2 = 2 * n;
  const p3 = 3 * n;
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    dst[i] = src[j]!;
    dst[p1 + i] = src[j + 1]!;
    dst[p2 + i] = src[j + 2]!;
    dst[p3 + i] = src[j + 3]!;
  }
}

function shuffle8(src: Uint8Array, dst: Uint8Array, n: number): void {
  const p1 = n;
  const p2 = 2 * n;
  const p3 = 3 * n;
  const p4 = 4 * n;
  const p5 = 5 * n;
  const p6 = 6 * n;
  const p7 = 7 * n;
  for (let i = 0, j = 0; i < n; i++, j += 8) {
    dst[i] = src[j]!;
    dst[p1 + i] = src[j + 1]!;
    dst[p2 + i] = src[j + 2]!;
    dst[p3 + i] = src[j + 3]!;
    dst[p4 + i] = src[j + 4]!;
    dst[p5 + i] = src[j + 5]!;
    dst[p6 + i] = src[j + 6]!;
    dst[p7 + i] = src[j + 7]!;
  }
}

function unshuffle2(src: Uint8Array, dst: Uint8Array, n: number): void {
  for (let i = 0, j = 0; i < n; i++, j += 2) {
    dst[j] = src[i]!;
    dst[j + 1] = src[n + i]!;
  }
}

function unshuffle4(src: Uint8Array, dst: Uint8Array, n: number): void {
  const p1 = n;
  const p2 = 2 * n;
  const p3 = 3 * n;
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    dst[j] = src[i]!;
    dst[j + 1] = src[p1 + i]!;
    dst[j + 2] = src[p2 + i]!;
    dst[j + 3] = src[p3 + i]!;
  }
}

function unshuffle8(src: Uint8Array, dst: Uint8Array, n: number): void {
  const p1 = n;
  const p2 = 2 * n;
  const p3 = 3 * n;
  const p4 = 4 * n;
  const p5 = 5 * n;
  const p6 = 6 * n;
  const p7 = 7 * n;
  for (let i = 0, j = 0; i < n; i++, j += 8) {
    dst[j] = src[i]!;
    dst[j + 1] = src[p1 + i]!;
    dst[j + 2] = src[p2 + i]!;
    dst[j + 3] = src[p3 + i]!;
    dst[j + 4] = src[p4 + i]!;
    dst[j + 5] = src[p5 + i]!;
    dst[j + 6] = src[p6 + i]!;
    dst[j + 7] = src[p7 + i]!;
  }
}

// Word paths. q = n / 4 groups of four elements; plane b starts at word b*q. A 4×4 byte
// transpose is its own inverse, so shuffle and unshuffle differ only in which side is planar.

// Elements e0..e3 of 2 bytes sit in two words: w0 = [e0b0 e0b1 e1b0 e1b1], w1 = [e2b0 ...].
function shuffleWords2(s: Uint32Array, d: Uint32Array, q: number): void {
  for (let k = 0; k < q; k++) {
    const w0 = s[2 * k]!;
    const w1 = s[2 * k + 1]!;
    d[k] = (w0 & 0xff) | ((w0 >>> 8) & 0xff00) | ((w1 & 0xff) << 16) | ((w1 & 0xff0000) << 8);
    d[q + k] = ((w0 >>> 8) & 0xff) | ((w0 >>> 16) & 0xff00) | ((w1 & 0xff00) << 8) | (w1 & 0xff000000);
  }
}

function unshuffleWords2(s: Uint32Array, d: Uint32Array, q: number): void {
  for (let k = 0; k < q; k++) {
    const p0 = s[k]!;
    const p1 = s[q + k]!;
    d[2 * k] = (p0 & 0xff) | ((p1 & 0xff) << 8) | ((p0 & 0xff00) << 8) | ((p1 & 0xff00) << 16);
    d[2 * k + 1] = ((p0 >>> 16) & 0xff) | ((p1 >>> 8) & 0xff00) | ((p0 >>> 8) & 0xff0000) | (p1 & 0xff000000);
  }
}

// For 4-byte elements, element words on one side and plane words on the other.
function transposeWords4(s: Uint32Array, d: Uint32Array, q: number, toElements: boolean): void {
  const q2 = 2 * q;
  const q3 = 3 * q;
  if (!toElements) {
    for (let k = 0; k < q; k++) {
      const a0 = s[4 * k]!;
      const a1 = s[4 * k + 1]!;
      const a2 = s[4 * k + 2]!;
      const a3 = s[4 * k + 3]!;
      d[k] = (a0 & 0xff) | ((a1 & 0xff) << 8) | ((a2 & 0xff) << 16) | (a3 << 24);
      d[q + k] = ((a0 >>> 8) & 0xff) | (a1 & 0xff00) | ((a2 & 0xff00) << 8) | ((a3 >>> 8) << 24);
      d[q2 + k] = ((a0 >>> 16) & 0xff) | ((a1 >>> 8) & 0xff00) | (a2 & 0xff0000) | ((a3 >>> 16) << 24);
      d[q3 + k] = (a0 >>> 24) | ((a1 >>> 16) & 0xff00) | ((a2 >>> 8) & 0xff0000) | (a3 & 0xff000000);
    }
  } else {
    for (let k = 0; k < q; k++) {
      const a0 = s[k]!;
      const a1 = s[q + k]!;
      const a2 = s[q2 + k]!;
      const a3 = s[q3 + k]!;
      d[4 * k] = (a0 & 0xff) | ((a1 & 0xff) << 8) | ((a2 & 0xff) << 16) | (a3 << 24);
      d[4 * k + 1] = ((a0 >>> 8) & 0xff) | (a1 & 0xff00) | ((a2 & 0xff00) << 8) | ((a3 >>> 8) << 24);
      d[4 * k + 2] = ((a0 >>> 16) & 0xff) | ((a1 >>> 8) & 0xff00) | (a2 & 0xff0000) | ((a3 >>> 16) << 24);
      d[4 * k + 3] = (a0 >>> 24) | ((a1 >>> 16) & 0xff00) | ((a2 >>> 8) & 0xff0000) | (a3 & 0xff000000);
    }
  }
}

// For 8-byte elements, the low words of four elements transpose into planes 0-3 and the high
// words into planes 4-7.
function transposeWords8(s: Uint32Array, d: Uint32Array, q: number, toElements: boolean): void {
  const q2 = 2 * q;
  const q3 = 3 * q;
  const q4 = 4 * q;
  const q5 = 5 * q;
  const q6 = 6 * q;
  const q7 = 7 * q;
  if (!toElements) {
    for (let k = 0; k < q; k++) {
      const e = 8 * k;
      const a0 = s[e]!;
      const b0 = s[e + 1]!;
      const a1 = s[e + 2]!;
      const b1 = s[e + 3]!;
      const a2 = s[e + 4]!;
      const b2 = s[e + 5]!;
      const a3 = s[e + 6]!;
      const b3 = s[e + 7]!;
      d[k] = (a0 & 0xff) | ((a1 & 0xff) << 8) | ((a2 & 0xff) << 16) | (a3 << 24);
      d[q + k] = ((a0 >>> 8) & 0xff) | (a1 & 0xff00) | ((a2 & 0xff00) << 8) | ((a3 >>> 8) << 24);
      d[q2 + k] = ((a0 >>> 16) & 0xff) | ((a1 >>> 8) & 0xff00) | (a2 & 0xff0000) | ((a3 >>> 16) << 24);
      d[q3 + k] = (a0 >>> 24) | ((a1 >>> 16) & 0xff00) | ((a2 >>> 8) & 0xff0000) | (a3 & 0xff000000);
      d[q4 + k] = (b0 & 0xff) | ((b1 & 0xff) << 8) | ((b2 & 0xff) << 16) | (b3 << 24);
      d[q5 + k] = ((b0 >>> 8) & 0xff) | (b1 & 0xff00) | ((b2 & 0xff00) << 8) | ((b3 >>> 8) << 24);
      d[q6 + k] = ((b0 >>> 16) & 0xff) | ((b1 >>> 8) & 0xff00) | (b2 & 0xff0000) | ((b3 >>> 16) << 24);
      d[q7 + k] = (b0 >>> 24) | ((b1 >>> 16) & 0xff00) | ((b2 >>> 8) & 0xff0000) | (b3 & 0xff000000);
    }
  } else {
    for (let k = 0; k < q; k++) {
      const a0 = s[k]!;
      const a1 = s[q + k]!;
      const a2 = s[q2 + k]!;
      const a3 = s[q3 + k]!;
      const b0 = s[q4 + k]!;
      const b1 = s[q5 + k]!;
      const b2 = s[q6 + k]!;
      const b3 = s[q7 + k]!;
      const e = 8 * k;
      d[e] = (a0 & 0xff) | ((a1 & 0xff) << 8) | ((a2 & 0xff) << 16) | (a3 << 24);
      d[e + 2] = ((a0 >>> 8) & 0xff) | (a1 & 0xff00) | ((a2 & 0xff00) << 8) | ((a3 >>> 8) << 24);
      d[e + 4] = ((a0 >>> 16) & 0xff) | ((a1 >>> 8) & 0xff00) | (a2 & 0xff0000) | ((a3 >>> 16) << 24);
      d[e + 6] = (a0 >>> 24) | ((a1 >>> 16) & 0xff00) | ((a2 >>> 8) & 0xff0000) | (a3 & 0xff000000);
      d[e + 1] = (b0 & 0xff) | ((b1 & 0xff) << 8) | ((b2 & 0xff) << 16) | (b3 << 24);
      d[e + 3] = ((b0 >>> 8) & 0xff) | (b1 & 0xff00) | ((b2 & 0xff00) << 8) | ((b3 >>> 8) << 24);
      d[e + 5] = ((b0 >>> 16) & 0xff) | ((b1 >>> 8) & 0xff00) | (b2 & 0xff0000) | ((b3 >>> 16) << 24);
      d[e + 7] = (b0 >>> 24) | ((b1 >>> 16) & 0xff00) | ((b2 >>> 8) & 0xff0000) | (b3 & 0xff000000);
    }
  }
}
