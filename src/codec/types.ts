// The block codec contract: how a run of bytes becomes image blocks and back.
// Two implementations read and write the same bytes: the native addon (fast path, its own
// threads) and the portable one (zstd-codec + xxhash-wasm + a JS shuffle) for when the addon
// cannot load. See docs/image-format.md, "Blocks".

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
  encode(src: Uint8Array, elementSize: number, level: number): Promise<EncodedBatch>;
}

/** n blocks to decode: arrays of length ≥ count, index i describes block i. */
export interface DecodeRequest {
  count: number;
  src: Uint8Array;
  srcOffsets: Float64Array;
  storedLengths: Uint32Array;
  flags: Uint8Array;
  storedHashes: BigUint64Array;
  rawHashes: BigUint64Array;
  dst: Uint8Array;
  dstOffsets: Float64Array;
  rawLengths: Uint32Array;
  elementSize: number;
}

export interface DecodeFailure {
  index: number;
  reason: 'stored-hash' | 'decompress' | 'raw-hash';
}

export interface BlockCodec {
  readonly name: 'native' | 'portable';
  /** For `image inspect` and logs, e.g. "native zstd 1.5.7, 2 threads". */
  readonly description: string;
  /** XXH64, seed 0. */
  hash64(data: Uint8Array): bigint;
  createEncoder(blockSize: number, maxBlocks: number): BlockEncoder;
  /** Verifies and decodes; never writes outside dst's given ranges. null when every block is good. */
  decode(request: DecodeRequest): DecodeFailure | null;
}
