// The portable block codec: zstd-codec (WebAssembly) + hash-wasm's xxHash + the JS shuffle. It is the
// fallback when the addon cannot load, so it must write frames the addon reads and read frames
// the addon writes (docs/image-format.md, "Blocks").
//
// This file also holds the format limits and argument checks that both codecs share: native.ts
// imports them from here, because the portable codec is the JS reference for the block format
// and the two must refuse exactly the same requests.
import { createRequire } from 'node:module';
import { BLOCK_FLAG_PLANES, BLOCK_FLAG_SHUFFLE, BLOCK_FLAG_ZSTD } from '../native/binding.js';
import { decodePlanes, planesAreWellFormed } from './planes.js';
import { unshuffle, shuffle } from './shuffle.js';
import { zstdCompressBound, zstdFrameContentSize } from './zstd-frame.js';
import type { BlockCodec, BlockEncoder, BlockHashKind, DecodeFailure, DecodeRequest, EncodedBatch } from './types.js';

/** Largest block the format allows (docs/image-format.md, "Blocks"). */
export const MAX_BLOCK_SIZE = 1 << 20;

/** zstd's level range (ZSTD_minCLevel() .. ZSTD_maxCLevel()). */
export const MIN_LEVEL = -(1 << 17);
export const MAX_LEVEL = 22;

/**
 * Highest level the portable codec really uses; higher levels are lowered to it. zstd-codec's
 * WebAssembly heap is fixed at 16 MiB and level 10 and above abort with "OOM" on a 1 MiB block
 * (measured with zstd-codec 0.1.5). The level only trades size for speed, so a fallback that
 * compresses a little less beats a checkpoint that fails.
 */
export const PORTABLE_MAX_LEVEL = 9;

export { zstdCompressBound, zstdFrameContentSize };

export function checkElementSize(elementSize: number): void {
  if (elementSize !== 1 && elementSize !== 2 && elementSize !== 4 && elementSize !== 8) {
    throw new RangeError(`elementSize must be 1, 2, 4 or 8, got ${elementSize}`);
  }
}

/** 'xxh64' or 'xxh3': a kind neither codec knows is the caller's bug. */
export function checkBlockHash(hash: BlockHashKind): void {
  if (hash !== 'xxh64' && hash !== 'xxh3') throw new RangeError(`unknown block hash kind ${JSON.stringify(hash)}`);
}

export function checkLevel(level: number): void {
  if (!Number.isInteger(level) || level < MIN_LEVEL || level > MAX_LEVEL) {
    throw new RangeError(`zstd level must be an integer from ${MIN_LEVEL} to ${MAX_LEVEL}, got ${level}`);
  }
}

export function checkEncoderShape(blockSize: number, maxBlocks: number): void {
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > MAX_BLOCK_SIZE) {
    throw new RangeError(`blockSize must be an integer from 1 to ${MAX_BLOCK_SIZE}, got ${blockSize}`);
  }
  if (!Number.isInteger(maxBlocks) || maxBlocks < 1) {
    throw new RangeError(`maxBlocks must be a positive integer, got ${maxBlocks}`);
  }
}

/** Checks one encode call's arguments; returns the number of blocks. */
export function checkEncodeArgs(
  src: Uint8Array,
  elementSize: number,
  level: number,
  blockSize: number,
  maxBlocks: number,
): number {
  if (!(src instanceof Uint8Array)) throw new TypeError('encode: src must be a Uint8Array');
  checkElementSize(elementSize);
  checkLevel(level);
  if (src.length > blockSize * maxBlocks) {
    throw new RangeError(
      `encode: ${src.length} bytes do not fit in ${maxBlocks} blocks of ${blockSize} bytes`,
    );
  }
  return Math.ceil(src.length / blockSize);
}

/** A decode request's per-block arrays, copied once they were checked. */
export interface CheckedBlocks {
  count: number;
  srcOffsets: Float64Array;
  storedLengths: Uint32Array;
  flags: Uint8Array;
  storedHashes: BigUint64Array;
  rawHashes: BigUint64Array;
  dstOffsets: Float64Array;
  rawLengths: Uint32Array;
}

function viewsOverlap(a: Uint8Array, b: Uint8Array): boolean {
  if (a.buffer !== b.buffer || a.length === 0 || b.length === 0) return false;
  return a.byteOffset < b.byteOffset + b.length && b.byteOffset < a.byteOffset + a.length;
}

/**
 * Refuses, before anything is read or written, a request whose ranges leave src or dst or
 * collide: such a request is a caller bug (the image reader validates every block against the
 * file first), not damaged data, so it is a RangeError rather than a DecodeFailure. The addon
 * refuses the same requests the same way.
 *
 * Returns copies of the per-block arrays: they could live inside dst, and a block written there
 * must not move the ranges of the blocks after it once they have been checked.
 */
export function checkDecodeRequest(r: DecodeRequest): CheckedBlocks {
  if (!(r.src instanceof Uint8Array) || !(r.dst instanceof Uint8Array)) {
    throw new TypeError('decode: src and dst must be Uint8Arrays');
  }
  if (
    !(r.srcOffsets instanceof Float64Array) ||
    !(r.dstOffsets instanceof Float64Array) ||
    !(r.storedLengths instanceof Uint32Array) ||
    !(r.rawLengths instanceof Uint32Array) ||
    !(r.flags instanceof Uint8Array) ||
    !(r.storedHashes instanceof BigUint64Array) ||
    !(r.rawHashes instanceof BigUint64Array)
  ) {
    throw new TypeError('decode: a per-block array has the wrong type');
  }
  checkElementSize(r.elementSize);
  checkBlockHash(r.hash);
  const n = r.count;
  if (
    !Number.isInteger(n) ||
    n < 0 ||
    n > r.srcOffsets.length ||
    n > r.dstOffsets.length ||
    n > r.storedLengths.length ||
    n > r.rawLengths.length ||
    n > r.flags.length ||
    n > r.storedHashes.length ||
    n > r.rawHashes.length
  ) {
    throw new RangeError(`decode: count ${n} is not an integer within every per-block array`);
  }
  if (viewsOverlap(r.src, r.dst)) throw new RangeError('decode: src and dst overlap');
  const blocks: CheckedBlocks = {
    count: n,
    srcOffsets: r.srcOffsets.slice(0, n),
    storedLengths: r.storedLengths.slice(0, n),
    flags: r.flags.slice(0, n),
    storedHashes: r.storedHashes.slice(0, n),
    rawHashes: r.rawHashes.slice(0, n),
    dstOffsets: r.dstOffsets.slice(0, n),
    rawLengths: r.rawLengths.slice(0, n),
  };
  const srcLength = r.src.length;
  const dstLength = r.dst.length;
  let sorted = true;
  let end = 0;
  for (let i = 0; i < n; i++) {
    const so = blocks.srcOffsets[i]!;
    const sl = blocks.storedLengths[i]!;
    const doff = blocks.dstOffsets[i]!;
    const rl = blocks.rawLengths[i]!;
    // Number.isInteger also refuses NaN and ±Infinity; the sums stay exact below 2^53.
    if (!Number.isInteger(so) || so < 0 || so + sl > srcLength) {
      throw new RangeError(`decode: block ${i}: stored range [${so}, +${sl}) is outside src (${srcLength} bytes)`);
    }
    if (!Number.isInteger(doff) || doff < 0 || doff + rl > dstLength) {
      throw new RangeError(`decode: block ${i}: raw range [${doff}, +${rl}) is outside dst (${dstLength} bytes)`);
    }
    if (rl > MAX_BLOCK_SIZE) {
      throw new RangeError(`decode: block ${i}: rawLength ${rl} exceeds the ${MAX_BLOCK_SIZE}-byte block limit`);
    }
    if (rl > 0) {
      if (doff < end) sorted = false;
      else end = doff + rl;
    }
  }
  // Blocks usually come in dst order, which the pass above confirms; otherwise sort to look for
  // two blocks that would write the same bytes (the addon would decode them on two threads).
  if (!sorted) {
    const order = Array.from({ length: n }, (_, i) => i).filter((i) => blocks.rawLengths[i]! > 0);
    order.sort((a, b) => blocks.dstOffsets[a]! - blocks.dstOffsets[b]!);
    for (let k = 1; k < order.length; k++) {
      const prev = order[k - 1]!;
      const cur = order[k]!;
      if (blocks.dstOffsets[prev]! + blocks.rawLengths[prev]! > blocks.dstOffsets[cur]!) {
        throw new RangeError(`decode: blocks ${prev} and ${cur} overlap in dst`);
      }
    }
  }
  return blocks;
}

/**
 * Whether a block's stored bytes have the shape its flags promise: raw bytes of exactly
 * rawLength, one zstd frame declaring exactly rawLength, or a well-formed plane-coded block. Both codecs check this before
 * decompressing, so they refuse the same blocks and neither zstd ever sees a frame that asks
 * for more memory than the block it fills.
 */
export function storedBlockIsWellFormed(stored: Uint8Array, flags: number, rawLength: number): boolean {
  if (flags === 0) return stored.length === rawLength;
  if (flags === BLOCK_FLAG_PLANES) {
    return rawLength > 0 && stored.length <= zstdCompressBound(rawLength) && planesAreWellFormed(stored, rawLength);
  }
  if (flags !== BLOCK_FLAG_ZSTD && flags !== (BLOCK_FLAG_ZSTD | BLOCK_FLAG_SHUFFLE)) {
    // Unknown bits, or "shuffled" without "zstd", which the format calls invalid.
    return false;
  }
  // No writer frames an empty block (no frame is shorter than 0 bytes), and zstd-codec cannot
  // decode an empty frame, so refusing it keeps the two codecs in step.
  return (
    rawLength > 0 &&
    stored.length <= zstdCompressBound(rawLength) &&
    zstdFrameContentSize(stored) === rawLength
  );
}

// The part of zstd-codec's API used here; the package ships no types.
interface ZstdSimple {
  compress(data: Uint8Array, level?: number): Uint8Array | null;
  decompress(data: Uint8Array): Uint8Array | null;
}
interface ZstdCodecModule {
  ZstdCodec: { run(callback: (zstd: { Simple: new () => ZstdSimple }) => void): void };
}

/** zstd-codec calls back only once its WebAssembly is compiled; a failure there never calls back. */
const ZSTD_INIT_TIMEOUT_MS = 60_000;

function loadZstd(): Promise<ZstdSimple> {
  const require = createRequire(import.meta.url);
  const { ZstdCodec } = require('zstd-codec') as ZstdCodecModule;
  return new Promise<ZstdSimple>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`zstd-codec did not initialise within ${ZSTD_INIT_TIMEOUT_MS / 1000} s`));
    }, ZSTD_INIT_TIMEOUT_MS);
    timer.unref();
    try {
      ZstdCodec.run((zstd) => {
        clearTimeout(timer);
        try {
          resolve(new zstd.Simple());
        } catch (err) {
          reject(err as Error);
        }
      });
    } catch (err) {
      clearTimeout(timer);
      reject(err as Error);
    }
  });
}

/** Creates a portable codec with its own zstd-codec instance (16 MiB of WebAssembly heap). */
export async function createPortableCodec(): Promise<BlockCodec> {
  const [{ createXXHash64, createXXHash3 }, zstd] = await Promise.all([import('hash-wasm'), loadZstd()]);
  const hashers = { xxh64: await createXXHash64(0, 0), xxh3: await createXXHash3(0, 0) };
  const blockHash = (data: Uint8Array, hash: BlockHashKind): bigint => {
    checkBlockHash(hash);
    const hasher = hashers[hash];
    // The digest is the canonical (big-endian) form of the 64-bit value.
    const digest = hasher.init().update(data).digest('binary');
    return new DataView(digest.buffer, digest.byteOffset, 8).getBigUint64(0, false);
  };
  const hash64 = (data: Uint8Array): bigint => blockHash(data, 'xxh64');

  function createEncoder(blockSize: number, maxBlocks: number): BlockEncoder {
    checkEncoderShape(blockSize, maxBlocks);
    const stride = zstdCompressBound(blockSize);
    // All staging is allocated here once: fresh memory costs page faults on every checkpoint.
    const stored = new Uint8Array(stride * maxBlocks);
    const shuffled = new Uint8Array(blockSize);
    const storedLengths = new Uint32Array(maxBlocks);
    const rawLengths = new Uint32Array(maxBlocks);
    const flags = new Uint8Array(maxBlocks);
    const rawHashes = new BigUint64Array(maxBlocks);
    const storedHashes = new BigUint64Array(maxBlocks);

    // Synchronous on purpose: the job's thread waits for the checkpoint anyway on this path, and
    // zstd-codec has a single heap that cannot serve two blocks at once.
    async function encode(src: Uint8Array, elementSize: number, level: number, hash: BlockHashKind): Promise<EncodedBatch> {
      const count = checkEncodeArgs(src, elementSize, level, blockSize, maxBlocks);
      if (src.buffer === stored.buffer || src.buffer === shuffled.buffer) {
        throw new RangeError('encode: src lies in the encoder\'s own staging, which encoding overwrites');
      }
      const zstdLevel = Math.min(level, PORTABLE_MAX_LEVEL);
      const shuffles = elementSize > 1;
      for (let i = 0; i < count; i++) {
        const start = i * blockSize;
        const raw = src.subarray(start, Math.min(start + blockSize, src.length));
        const rawLength = raw.length;
        const rawHash = blockHash(raw, hash);
        let input = raw;
        if (shuffles) {
          input = shuffled.subarray(0, rawLength);
          shuffle(raw, input, elementSize);
        }
        let frame: Uint8Array | null;
        try {
          frame = zstd.compress(input, zstdLevel);
        } catch (err) {
          // Emscripten aborts by throwing a string, which would reach the caller without a stack.
          throw new Error(`portable codec: zstd-codec aborted on block ${i}: ${String(err)}`);
        }
        if (!(frame instanceof Uint8Array)) {
          throw new Error(`portable codec: zstd-codec failed to compress block ${i} (${rawLength} bytes, level ${zstdLevel})`);
        }
        const at = i * stride;
        rawLengths[i] = rawLength;
        rawHashes[i] = rawHash;
        if (frame.length < rawLength) {
          stored.set(frame, at);
          storedLengths[i] = frame.length;
          flags[i] = BLOCK_FLAG_ZSTD | (shuffles ? BLOCK_FLAG_SHUFFLE : 0);
          storedHashes[i] = blockHash(stored.subarray(at, at + frame.length), hash);
        } else {
          // The raw bytes, not the shuffled ones: a raw block is readable without knowing its
          // element size, and its stored hash is then its raw hash.
          stored.set(raw, at);
          storedLengths[i] = rawLength;
          flags[i] = 0;
          storedHashes[i] = rawHash;
        }
      }
      return { count, stored, stride, storedLengths, rawLengths, flags, rawHashes, storedHashes };
    }

    return { blockSize, maxBlocks, encode };
  }

  /** Decodes one coded block into `out` and checks its raw hash; the stored hash is not looked at. */
  function decodeContent(stored: Uint8Array, f: number, out: Uint8Array, elementSize: number, rawHash: bigint, hash: BlockHashKind): 'decompress' | 'raw-hash' | null {
    if (!storedBlockIsWellFormed(stored, f, out.length)) return 'decompress';
    if (f === BLOCK_FLAG_PLANES) {
      if (!decodePlanes(stored, out, elementSize, (frame) => zstd.decompress(frame))) return 'decompress';
    } else {
      let raw: Uint8Array | null;
      try {
        raw = zstd.decompress(stored);
      } catch {
        raw = null;
      }
      if (!(raw instanceof Uint8Array) || raw.length !== out.length) return 'decompress';
      if (f & BLOCK_FLAG_SHUFFLE) unshuffle(raw, out, elementSize);
      else out.set(raw);
    }
    return blockHash(out, hash) === rawHash ? null : 'raw-hash';
  }

  // What a coded block decodes to is checked against its raw hash; its stored hash only names a
  // failure, damaged stored bytes before a refusal of intact ones (native/src/codec.h). A raw
  // block's one hash is both.
  function decode(r: DecodeRequest): DecodeFailure | null {
    const b = checkDecodeRequest(r);
    const { src, dst, elementSize } = r;
    for (let i = 0; i < b.count; i++) {
      const so = b.srcOffsets[i]!;
      const stored = src.subarray(so, so + b.storedLengths[i]!);
      const doff = b.dstOffsets[i]!;
      const out = dst.subarray(doff, doff + b.rawLengths[i]!);
      const f = b.flags[i]!;
      if (f === 0) {
        const h = blockHash(stored, r.hash);
        if (h !== b.storedHashes[i]) return { index: i, reason: 'stored-hash' };
        if (stored.length !== out.length) return { index: i, reason: 'decompress' };
        if (h !== b.rawHashes[i]) return { index: i, reason: 'raw-hash' };
        out.set(stored);
        continue;
      }
      const failure = decodeContent(stored, f, out, elementSize, b.rawHashes[i]!, r.hash);
      if (failure !== null) return { index: i, reason: blockHash(stored, r.hash) === b.storedHashes[i] ? failure : 'stored-hash' };
    }
    return null;
  }

  return {
    name: 'portable',
    description: `portable zstd-codec (WebAssembly, levels above ${PORTABLE_MAX_LEVEL} lowered to ${PORTABLE_MAX_LEVEL}) + hash-wasm`,
    hash64,
    blockHash,
    createEncoder,
    decode,
  };
}
