// Byte-plane shuffle of docs/image-format.md, "Blocks", step 2, for the portable codec. It must
// produce the addon's bytes exactly: with n = floor(len / es), dst[b*n + i] = src[i*es + b], and
// the len % es tail is copied unchanged after the planes.
//
// Each element size gets its own loop so that V8 sees a constant stride and keeps everything in
// registers; the generic loop is only for element sizes the format does not use.

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

/** dst[b*n + i] = src[i*es + b] for n = floor(len/es); the len % es tail is copied. */
export function shuffle(src: Uint8Array, dst: Uint8Array, elementSize: number): void {
  checkArgs(src, dst, elementSize);
  const len = src.length;
  const n = Math.floor(len / elementSize);
  const body = n * elementSize;
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
