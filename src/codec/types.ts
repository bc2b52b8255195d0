// The block codec contract: how a run of bytes becomes image blocks and back.
// Two implementations read and write the same bytes: the native addon (fast path, its own
// threads) and the portable one (zstd-codec + hash-wasm + a JS shuffle) for when the addon
// cannot load. See docs/image-format.md, "Blocks".

/**
 * A block's hashes (docs/image-format.md, "Blocks"): XXH64 in images of formats 1 and 2, XXH3-64
 * from format 3 (image/format.ts, blockHashOf). Both with seed 0.
 */
export type BlockHashKind = 'xxh64' | 'xxh3';

/** Per-block results of one encode call; the arrays and `stored` belong to the encoder and are
 *  valid until its next `encode` call. */
export interface EncodedBatch {
  count: number;
  /** Block i's stored bytes are stored.subarray(i * stride, i * stride + storedLengths[i]). */
  stored: Uint8Array;
  stride: number;
  storedLengths: Uint32Array;
  rawLengths: Uint32Array;
  flags: Uint8Array;
  rawHashes: BigUint64Array;
  storedHashes: BigUint64Array;
}

/** Encodes up to `maxBlocks` blocks per call into staging memory it allocates once. */
export interface BlockEncoder {
  readonly blockSize: number;
  readonly maxBlocks: number;
  /** src.length ≤ blockSize * maxBlocks. src must stay unchanged until the promise settles. */
  encode(src: Uint8Array, elementSize: number, level: number, hash: BlockHashKind): Promise<EncodedBatch>;
}

/**
 * What decoding and reading alike say of n blocks: arrays of length ≥ count, index i describes
 * block i — its stored form, its hashes, and where its raw bytes go in dst.
 */
export interface BlockTargets {
  count: number;
  storedLengths: Uint32Array;
  flags: Uint8Array;
  storedHashes: BigUint64Array;
  rawHashes: BigUint64Array;
  dst: Uint8Array;
  dstOffsets: Float64Array;
  rawLengths: Uint32Array;
  elementSize: number;
  /** The kind of the hashes above. */
  hash: BlockHashKind;
}

/** n blocks to decode from memory: block i's stored bytes start at src[srcOffsets[i]]. */
export interface DecodeRequest extends BlockTargets {
  src: Uint8Array;
  srcOffsets: Float64Array;
}

export interface DecodeFailure {
  index: number;
  reason: 'stored-hash' | 'decompress' | 'raw-hash';
}

/** n blocks to read from files and decode: `DecodeRequest` with file positions in place of `src`. */
export interface ReadRequest extends BlockTargets {
  /** Open file descriptors, one per block (an incremental image reads from several files). */
  fds: Int32Array;
  positions: Float64Array;
}

export interface ReadFailure {
  index: number;
  reason: DecodeFailure['reason'] | 'truncated' | 'io';
  /** For 'io': the errno that pread failed with. */
  errno?: number;
}

export interface BlockCodec {
  readonly name: 'native' | 'portable';
  /** For `image inspect` and logs, e.g. "native zstd 1.5.7, 2 threads". */
  readonly description: string;
  /** XXH64, seed 0: the footer's manifest hash in every format. */
  hash64(data: Uint8Array): bigint;
  /** A block hash of the given kind. */
  blockHash(data: Uint8Array, hash: BlockHashKind): bigint;
  /**
   * `background`: the encoder's work yields to the job's thread where the codec can arrange it
   * (the addon's lower-priority threads), for images written while the job computes.
   */
  createEncoder(blockSize: number, maxBlocks: number, options?: { background?: boolean }): BlockEncoder;
  /** Verifies and decodes; never writes outside dst's given ranges. null when every block is good. */
  decode(request: DecodeRequest): DecodeFailure | null;
  /**
   * Reads and decodes in one go, on the codec's threads (reading of one block overlaps decoding
   * of another), with decode's checks and order; the native codec only. null when every block is good.
   */
  readBlocks?(request: ReadRequest): ReadFailure | null;
}
