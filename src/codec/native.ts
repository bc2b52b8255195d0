// The block codec over the C++ addon (native/, typed in src/native/binding.ts). The addon does
// the work on its own threads; this wrapper owns the staging memory, applies the same argument
// checks as the portable codec so both refuse the same requests, and keeps one encode in flight
// per encoder because the addon writes into that encoder's staging until its promise settles.
import { NATIVE_HASH_KINDS, type NativeBinding, type NativeBlockTargets } from '../native/binding.js';
import {
  checkBlockHash,
  checkDecodeRequest,
  checkEncodeArgs,
  checkEncoderShape,
  storedBlockIsWellFormed,
  zstdCompressBound,
} from './portable.js';
import type { BlockCodec, BlockEncoder, BlockHashKind, BlockTargets, DecodeFailure, DecodeRequest, EncodedBatch, ReadFailure, ReadRequest } from './types.js';

type PerBlock = Pick<BlockTargets, 'storedLengths' | 'flags' | 'storedHashes' | 'rawHashes' | 'dstOffsets' | 'rawLengths'>;

/** The addon's arguments for blocks [0, n): it wants per-block arrays of exactly n entries. */
function firstBlocks(n: number, b: PerBlock, r: Pick<BlockTargets, 'dst' | 'elementSize' | 'hash'>): NativeBlockTargets {
  return [b.storedLengths.subarray(0, n), b.flags.subarray(0, n), b.storedHashes.subarray(0, n), b.rawHashes.subarray(0, n), r.dst, b.dstOffsets.subarray(0, n), b.rawLengths.subarray(0, n), r.elementSize, hashNumber(r.hash)];
}

/** The addon's number for a hash kind; a kind it does not know is the caller's bug. */
function hashNumber(hash: BlockHashKind): number {
  checkBlockHash(hash);
  return NATIVE_HASH_KINDS[hash];
}

export function createNativeCodec(binding: NativeBinding): BlockCodec {
  function createEncoder(blockSize: number, maxBlocks: number, options?: { background?: boolean }): BlockEncoder {
    const background = options?.background === true;
    checkEncoderShape(blockSize, maxBlocks);
    // The same stride as the portable codec, unless the addon's zstd asks for more room.
    const stride = Math.max(zstdCompressBound(blockSize), binding.compressBound(blockSize));
    // Allocated once: fresh memory costs page faults on every checkpoint.
    const stored = new Uint8Array(stride * maxBlocks);
    const storedLengths = new Uint32Array(maxBlocks);
    const rawLengths = new Uint32Array(maxBlocks);
    const flags = new Uint8Array(maxBlocks);
    const rawHashes = new BigUint64Array(maxBlocks);
    const storedHashes = new BigUint64Array(maxBlocks);
    let inFlight = false;

    async function encode(src: Uint8Array, elementSize: number, level: number, hash: BlockHashKind): Promise<EncodedBatch> {
      if (inFlight) {
        throw new Error('native encoder: encode called again before the previous encode settled');
      }
      const count = checkEncodeArgs(src, elementSize, level, blockSize, maxBlocks);
      const kind = hashNumber(hash);
      if (src.buffer === stored.buffer) {
        throw new RangeError('encode: src lies in the encoder\'s own staging, which encoding overwrites');
      }
      for (let i = 0; i < count; i++) {
        rawLengths[i] = Math.min(blockSize, src.length - i * blockSize);
      }
      const batch: EncodedBatch = { count, stored, stride, storedLengths, rawLengths, flags, rawHashes, storedHashes };
      if (count === 0) return batch;
      inFlight = true;
      try {
        // Views of exactly `count` entries, so the addon cannot touch entries beyond this call
        // whether it reads the block count from the arrays or from src.
        await binding.encodeBlocks(src, blockSize, elementSize, level, stored.subarray(0, count * stride), stride, {
          storedLengths: storedLengths.subarray(0, count),
          flags: flags.subarray(0, count),
          rawHashes: rawHashes.subarray(0, count),
          storedHashes: storedHashes.subarray(0, count),
        }, background, kind);
      } finally {
        inFlight = false;
      }
      return batch;
    }

    return { blockSize, maxBlocks, encode };
  }

  function decode(r: DecodeRequest): DecodeFailure | null {
    const b = checkDecodeRequest(r);
    // Blocks whose stored bytes do not have the shape their flags promise are found here, with
    // the portable codec's rules, so both codecs refuse the same blocks and report them alike
    // (libzstd alone accepts, say, two frames or a frame without a content size; the addon
    // throws a RangeError for undefined flags, which in an image is damage, not a caller bug).
    // Reading a few frame-header bytes per block is noise next to decompressing it.
    let firstMalformed = -1;
    for (let i = 0; i < b.count; i++) {
      const so = b.srcOffsets[i]!;
      const stored = r.src.subarray(so, so + b.storedLengths[i]!);
      if (!storedBlockIsWellFormed(stored, b.flags[i]!, b.rawLengths[i]!)) {
        firstMalformed = i;
        break;
      }
    }
    const n = firstMalformed < 0 ? b.count : firstMalformed;
    if (n > 0) {
      const failure = binding.decodeBlocks(r.src, b.srcOffsets.subarray(0, n), ...firstBlocks(n, b, r));
      // Copied so that only the contract's two fields reach callers and logs.
      if (failure !== null) return { index: failure.index, reason: failure.reason };
    }
    if (firstMalformed >= 0) {
      // Named as the addon names a failure: damaged stored bytes before a refusal of intact ones.
      const so = b.srcOffsets[firstMalformed]!;
      const stored = r.src.subarray(so, so + b.storedLengths[firstMalformed]!);
      const reason = binding.blockHash(stored, hashNumber(r.hash)) === b.storedHashes[firstMalformed] ? 'decompress' : 'stored-hash';
      return { index: firstMalformed, reason };
    }
    return null;
  }

  function readBlocks(r: ReadRequest): ReadFailure | null {
    const n = r.count;
    if (!Number.isSafeInteger(n) || n < 0 || n > r.positions.length) {
      throw new RangeError(`readBlocks: count must be a whole number from 0 to ${r.positions.length}, got ${n}`);
    }
    if (n === 0) return null;
    const failure = binding.readBlocks(r.fds.subarray(0, n), r.positions.subarray(0, n), ...firstBlocks(n, r, r));
    if (failure === null) return null;
    return failure.reason === 'io' ? { index: failure.index, reason: 'io', errno: failure.errno } : { index: failure.index, reason: failure.reason };
  }

  const threads = binding.threads;
  return {
    name: 'native',
    description: `native zstd ${binding.zstdVersion}, ${threads} thread${threads === 1 ? '' : 's'}`,
    hash64: (data: Uint8Array): bigint => binding.hash64(data),
    blockHash: (data: Uint8Array, hash: BlockHashKind): bigint => binding.blockHash(data, hashNumber(hash)),
    createEncoder,
    decode,
    readBlocks,
  };
}
