// Data, image-like layouts and hand-built zstd frames shared by the codec tests.
import type { BlockCodec, BlockHashKind, DecodeFailure, DecodeRequest } from '../../src/codec/index.js';

/** Deterministic bytes (xorshift32), so a failure reproduces. */
export function randomBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** sin(x)·cos(y) on an nx × ny grid plus ±0.5e-6 noise: a float field whose low bits are noise. */
export function smoothField(nx: number, ny: number, seed = 7): Float64Array {
  const field = new Float64Array(nx * ny);
  const noise = randomBytes(field.length * 4, seed);
  const view = new DataView(noise.buffer);
  for (let y = 0; y < ny; y++) {
    for (let x = 0; x < nx; x++) {
      const i = y * nx + x;
      const u = view.getUint32(i * 4, true) / 2 ** 32 - 0.5;
      field[i] = Math.sin(x / 37) * Math.cos(y / 23) + 1e-6 * u;
    }
  }
  return field;
}

/** Integers of `width` bits that walk by steps of -128..127 from 2^(width - 24): the delta predictor's case. */
export function randomWalk(count: number, seed: number, width: 32 | 64 = 64): Uint8Array {
  const steps = randomBytes(count, seed);
  if (width === 32) {
    const walk = new Int32Array(count);
    let x = 1 << 8;
    for (let i = 0; i < count; i++) walk[i] = x += steps[i]! - 128;
    return bytesOf(walk);
  }
  const walk = new BigInt64Array(count);
  let x = 1n << 40n;
  for (let i = 0; i < count; i++) walk[i] = x += BigInt(steps[i]! - 128);
  return bytesOf(walk);
}

/** A random 24-byte word over and over: bytes no predictor helps with, whose repeats zstd finds. */
export function repeatingBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  const word = randomBytes(24, seed);
  for (let i = 0; i < length; i++) out[i] = word[i % 24]!;
  return out;
}

export function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** Offset of the first block in the laid-out image, as after the 16-byte header of a real file. */
export const FIRST_BLOCK = 16;

/** Blocks of one section laid out back to back as in an image, with their manifest tuples. */
export interface EncodedSection {
  length: number;
  elementSize: number;
  /** Header space, then the stored bytes of every block. */
  image: Uint8Array;
  srcOffsets: Float64Array;
  storedLengths: Uint32Array;
  rawLengths: Uint32Array;
  flags: Uint8Array;
  storedHashes: BigUint64Array;
  rawHashes: BigUint64Array;
  hash: BlockHashKind;
  /** `stored` of every batch, to check that the encoder reuses its staging. */
  storedBuffers: Uint8Array[];
}

/** Encodes data as one section, in batches of at most maxBlocks blocks, copying each batch out. */
export async function encodeSection(
  codec: BlockCodec,
  data: Uint8Array,
  blockSize: number,
  elementSize: number,
  level: number,
  maxBlocks = 4,
  hash: BlockHashKind = 'xxh3',
): Promise<EncodedSection> {
  const encoder = codec.createEncoder(blockSize, maxBlocks);
  const blocks = Math.ceil(data.length / blockSize);
  const s: EncodedSection = {
    length: data.length,
    elementSize,
    image: new Uint8Array(0),
    srcOffsets: new Float64Array(blocks),
    storedLengths: new Uint32Array(blocks),
    rawLengths: new Uint32Array(blocks),
    flags: new Uint8Array(blocks),
    storedHashes: new BigUint64Array(blocks),
    rawHashes: new BigUint64Array(blocks),
    hash,
    storedBuffers: [],
  };
  const chunks: Uint8Array[] = [];
  let offset = FIRST_BLOCK;
  const batchBytes = blockSize * maxBlocks;
  for (let first = 0, start = 0; start < data.length; start += batchBytes, first += maxBlocks) {
    const batch = await encoder.encode(data.subarray(start, start + batchBytes), elementSize, level, hash);
    s.storedBuffers.push(batch.stored);
    for (let i = 0; i < batch.count; i++) {
      const at = i * batch.stride;
      const bytes = batch.stored.slice(at, at + batch.storedLengths[i]!);
      chunks.push(bytes);
      const k = first + i;
      s.srcOffsets[k] = offset;
      s.storedLengths[k] = batch.storedLengths[i]!;
      s.rawLengths[k] = batch.rawLengths[i]!;
      s.flags[k] = batch.flags[i]!;
      s.storedHashes[k] = batch.storedHashes[i]!;
      s.rawHashes[k] = batch.rawHashes[i]!;
      offset += bytes.length;
    }
  }
  s.image = new Uint8Array(offset);
  let at = FIRST_BLOCK;
  for (const c of chunks) {
    s.image.set(c, at);
    at += c.length;
  }
  return s;
}

/** Bytes around the decoded data that no decode may change. */
export const GUARD = 64;
export const GUARD_BYTE = 0xa5;

/** A decode request for a whole section into a fresh dst with guard bytes on both sides. */
export function sectionRequest(s: EncodedSection, blockSize: number): DecodeRequest {
  const n = s.rawLengths.length;
  const dst = new Uint8Array(GUARD + s.length + GUARD).fill(GUARD_BYTE);
  const dstOffsets = new Float64Array(n);
  for (let i = 0; i < n; i++) dstOffsets[i] = GUARD + i * blockSize;
  return {
    count: n,
    src: s.image,
    srcOffsets: s.srcOffsets,
    storedLengths: s.storedLengths,
    flags: s.flags,
    storedHashes: s.storedHashes,
    rawHashes: s.rawHashes,
    dst,
    dstOffsets,
    rawLengths: s.rawLengths,
    elementSize: s.elementSize,
    hash: s.hash,
  };
}

export function decodedBytes(r: DecodeRequest, length: number): Uint8Array {
  return r.dst.subarray(GUARD, GUARD + length);
}

export function guardsIntact(r: DecodeRequest, length: number): boolean {
  const d = r.dst;
  for (let i = 0; i < GUARD; i++) {
    if (d[i] !== GUARD_BYTE || d[GUARD + length + i] !== GUARD_BYTE) return false;
  }
  return true;
}

/** Decodes a section with `codec` and returns what came out. */
export function decodeSection(
  codec: BlockCodec,
  s: EncodedSection,
  blockSize: number,
): { failure: DecodeFailure | null; bytes: Uint8Array; guards: boolean } {
  const r = sectionRequest(s, blockSize);
  const failure = codec.decode(r);
  return { failure, bytes: decodedBytes(r, s.length), guards: guardsIntact(r, s.length) };
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}

/** Reference shuffle straight from the format's formula, slow on purpose. */
export function referenceShuffle(src: Uint8Array, es: number): Uint8Array {
  const dst = new Uint8Array(src.length);
  const n = Math.floor(src.length / es);
  for (let i = 0; i < n; i++) for (let b = 0; b < es; b++) dst[b * n + i] = src[i * es + b]!;
  for (let k = n * es; k < src.length; k++) dst[k] = src[k]!;
  return dst;
}

export interface FrameBlock {
  /** 0 raw, 1 RLE, 2 compressed, 3 reserved. */
  type: number;
  /** Block_Size as written in the block header. */
  size: number;
  /** The block's content bytes (1 byte for RLE). */
  content: Uint8Array;
}

export interface FrameSpec {
  /** Declared content size, or null for a frame that does not record it. */
  contentSize: number | null;
  /** Width of the Frame_Content_Size field: 1 (single segment only), 2, 4 or 8. */
  fcsBytes?: 1 | 2 | 4 | 8;
  singleSegment?: boolean;
  /** Window_Descriptor byte when not single segment. */
  windowDescriptor?: number;
  dictionaryId?: number;
  checksum?: Uint8Array;
  blocks: FrameBlock[];
  trailing?: Uint8Array;
}

/** Writes a zstd frame by hand (RFC 8878, 3.1.1), valid or not as the spec says. */
export function buildFrame(spec: FrameSpec): Uint8Array {
  const out: number[] = [0x28, 0xb5, 0x2f, 0xfd];
  const single = spec.singleSegment ?? false;
  let fcsFlag = 0;
  let fcsBytes = 0;
  if (spec.contentSize !== null) {
    fcsBytes = spec.fcsBytes ?? 8;
    fcsFlag = fcsBytes === 1 ? 0 : fcsBytes === 2 ? 1 : fcsBytes === 4 ? 2 : 3;
    if (fcsBytes === 1 && !single) throw new Error('a 1-byte content size needs a single-segment frame');
  }
  const did = spec.dictionaryId ?? 0;
  const didFlag = did === 0 ? 0 : 3;
  out.push((fcsFlag << 6) | (single ? 0x20 : 0) | (spec.checksum ? 4 : 0) | didFlag);
  if (!single) out.push(spec.windowDescriptor ?? 0x48);
  if (didFlag === 3) for (let k = 0; k < 4; k++) out.push((did >>> (8 * k)) & 0xff);
  if (spec.contentSize !== null) {
    let v = spec.contentSize - (fcsBytes === 2 ? 256 : 0);
    for (let k = 0; k < fcsBytes; k++) {
      out.push(v % 256);
      v = Math.floor(v / 256);
    }
  }
  spec.blocks.forEach((b, i) => {
    const last = i === spec.blocks.length - 1 ? 1 : 0;
    const header = b.size * 8 + b.type * 2 + last;
    out.push(header & 0xff, (header >>> 8) & 0xff, (header >>> 16) & 0xff);
    for (const byte of b.content) out.push(byte);
  });
  if (spec.checksum) for (const byte of spec.checksum) out.push(byte);
  if (spec.trailing) for (const byte of spec.trailing) out.push(byte);
  return Uint8Array.from(out);
}

/** A valid frame of `length` copies of `byte`, as RLE blocks of at most 128 KiB. */
export function rleFrame(length: number, byte: number, extra: Partial<FrameSpec> = {}): Uint8Array {
  const blocks: FrameBlock[] = [];
  for (let left = length; left > 0; left -= 128 * 1024) {
    blocks.push({ type: 1, size: Math.min(left, 128 * 1024), content: Uint8Array.of(byte) });
  }
  return buildFrame({ contentSize: length, fcsBytes: 4, windowDescriptor: 0x50, blocks, ...extra });
}

/** One block in its own little image: stored bytes at FIRST_BLOCK, hashes as given. */
export function singleBlockRequest(
  stored: Uint8Array,
  rawLength: number,
  flags: number,
  storedHash: bigint,
  rawHash: bigint,
  elementSize = 1,
  hash: BlockHashKind = 'xxh3',
): DecodeRequest {
  const src = new Uint8Array(FIRST_BLOCK + stored.length + 16);
  src.set(stored, FIRST_BLOCK);
  const dst = new Uint8Array(GUARD + rawLength + GUARD).fill(GUARD_BYTE);
  return {
    count: 1,
    src,
    srcOffsets: Float64Array.of(FIRST_BLOCK),
    storedLengths: Uint32Array.of(stored.length),
    flags: Uint8Array.of(flags),
    storedHashes: BigUint64Array.of(storedHash),
    rawHashes: BigUint64Array.of(rawHash),
    dst,
    dstOffsets: Float64Array.of(GUARD),
    rawLengths: Uint32Array.of(rawLength),
    elementSize,
    hash,
  };
}
