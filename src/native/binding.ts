// The one file that knows the C++ addon (native/). Everything the addon exposes is typed
// here once; the rest of src/ goes through the codec and region modules, never the raw binding.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Per-block result arrays that `encodeBlocks` fills, one entry per block. */
export interface NativeEncodeOut {
  /** Bytes stored in the image for block i (≤ dstStride). */
  storedLengths: Uint32Array;
  /** BLOCK_FLAG_* bits for block i. */
  flags: Uint8Array;
  /** The hash (of the kind asked for) of the raw, uncompressed bytes of block i. */
  rawHashes: BigUint64Array;
  /** The hash of the stored bytes of block i. */
  storedHashes: BigUint64Array;
}

/**
 * The arguments decodeBlocks and readBlocks both end with, each array with one entry per block:
 * block i's stored length, flags and stored hash, its raw hash, and where its raw bytes go
 * (dst[dstOffsets[i], +rawLengths[i]]), unshuffled by elementSize; last, the hashes' kind
 * (NATIVE_HASH_KINDS).
 */
export type NativeBlockTargets = [
  storedLengths: Uint32Array,
  flags: Uint8Array,
  storedHashes: BigUint64Array,
  rawHashes: BigUint64Array,
  dst: Uint8Array,
  dstOffsets: Float64Array,
  rawLengths: Uint32Array,
  elementSize: number,
  hash: number,
];

/** The addon's numbers for the block hash kinds (native/src/hash.h). */
export const NATIVE_HASH_KINDS = { xxh64: 0, xxh3: 1 } as const;

/** What `decodeBlocks` reports when a block fails; `null` means every block decoded and verified. */
export interface NativeDecodeFailure {
  index: number;
  reason: 'stored-hash' | 'decompress' | 'raw-hash';
}

/** What `cowStats` reports of a region in copy-on-write mode. */
export interface NativeCowStats {
  /** A flush is running. */
  flushing: boolean;
  /** Blocks the running or last flush had to save. */
  flushBlocks: number;
  /** Of those, blocks the fault handler saved because the job wrote them first. */
  faultCopies: number;
  /** Write faults during that flush (at most one per block). */
  flushFaults: number;
  /** Blocks the job was let into (written, or maybe written ahead of a sweep) during that flush. */
  flushWritten: number;
  /** How long the last flush took, ms (-1 while one runs). */
  flushMs: number;
  /** Write faults since the last cowCapture. */
  faults: number;
  /** Blocks written since the last cowCapture. */
  writtenBlocks: number;
  /** Time the fault handler spent on the region's faults so far (reading each to waking its writer), ms. */
  handlerMs: number;
}

/** What `readBlocks` reports when a block fails; `null` means every block was read, decoded and verified. */
export interface NativeReadFailure {
  index: number;
  /** 'truncated': the file ended before the block's last byte; 'io': pread failed with `errno`. */
  reason: 'stored-hash' | 'decompress' | 'raw-hash' | 'truncated' | 'io';
  errno?: number;
}

export interface NativeBinding {
  /** Bumped whenever this contract changes; the loader refuses a stale build. */
  readonly abiVersion: number;
  /**
   * process.versions.modules of the Node it was built for. serializeValue uses the V8 API, which
   * ties a build to one Node major version; the loader refuses a build for another.
   */
  readonly nodeModuleVersion: number;
  readonly zstdVersion: string;
  /** Threads the addon owns for encoding/decoding (not the libuv pool). */
  readonly threads: number;
  readonly pageSize: number;
  /** `copyBlocks` of at least this many bytes runs on the addon's threads and the caller's together. */
  readonly copyParallelBytes: number;
  /**
   * The widest vector paths the addon takes on this CPU: 'avx512', 'avx2', 'sse2' ('none' off
   * x86-64): cr's own kernels, not xxHash's or zstd's. CR_SIMD=avx2 or CR_SIMD=sse2 in the
   * environment caps them (read at load; another value is warned about and ignored).
   */
  readonly simd: SimdPaths | 'none';

  /**
   * Page-aligned, zero-filled memory from mmap, outside the JS heap, as an external ArrayBuffer
   * (at most 4 GiB: Node 20's limit for external buffers). `hugePages` asks for transparent huge
   * pages (faster first touch, coarser RSS).
   */
  allocRegion(byteLength: number, hugePages?: boolean): ArrayBuffer;
  /** Unmaps the memory now and detaches the ArrayBuffer. Idempotent. */
  freeRegion(buffer: ArrayBuffer): void;
  /**
   * Gives the region's pages back to the system without detaching the ArrayBuffer (they read as
   * zeros after); the mapping goes when the garbage collector finalizes the ArrayBuffer.
   */
  discardRegion(buffer: ArrayBuffer): void;
  /**
   * Asks for transparent huge pages on the 2 MiB-aligned part of `bytes` (memory the addon did
   * not map, e.g. a SharedArrayBuffer); only pages not yet present are affected. False when the
   * kernel refuses or the view holds no aligned 2 MiB.
   */
  adviseHugePages(bytes: Uint8Array): boolean;

  /**
   * `value`'s v8 stream (header and value), written by V8's ValueSerializer with array-buffer
   * views as host objects, into `arena` from `offset` on: returns the offset after its last byte.
   * A stream that does not fit continues on the heap and comes back whole as an ArrayBuffer of
   * its own (the arena's bytes past `offset` are then scratch). For each host object,
   * `hostObject(object)` fills `reference` with the buffer's index, the view's type code, its byte
   * offset and its length, which follow in the stream as two uint32 and two uint64 varints, or
   * throws. Returns null, having swallowed the error, when the value cannot be serialized.
   */
  serializeValue(value: unknown, arena: Uint8Array, offset: number, hostObject: (object: object) => void, reference: Float64Array): number | ArrayBuffer | null;

  /**
   * The staging copy of one section (capture/staging.ts): copies block b of `src` (blocks of
   * `blockSize` bytes, the last may be shorter) when `blocks` is null or `blocks[b]` is not 0,
   * into `dst` from `dstOffset` on, consecutive staged blocks side by side; sets `slots[b]` to
   * the block's offset in `dst`, or -1 when it is not staged. Returns the offset after the last
   * byte written. Copies of `copyParallelBytes` (4 MiB) or more run on the addon's threads
   * and the caller's together, the caller waiting. Throws a RangeError, before writing anything,
   * when `blocks` or `slots` do not have one entry per block, the bytes do not fit `dst`, or
   * `src` overlaps `dst` (or `blocks` or `slots` lie inside it).
   */
  copyBlocks(src: Uint8Array, blockSize: number, blocks: Uint8Array | null, dst: Uint8Array, dstOffset: number, slots: Float64Array): number;

  /** Whether dirty tracking works in this process (userfaultfd async write-protect + PAGEMAP_SCAN), and if not why. Probed once. */
  dirtyTrackingSupport(): { available: boolean; reason: string | null };
  /** Write-protects a region so that written pages are recorded. Throws when it cannot. */
  trackRegion(buffer: ArrayBuffer): void;
  untrackRegion(buffer: ArrayBuffer): void;
  /**
   * Sets dirty[b] = 1 for every block b (of blockSize bytes, a multiple of the page size) holding
   * a page written since tracking started or the last scan, and re-protects those pages.
   * Returns the number of written pages.
   */
  scanDirty(buffer: ArrayBuffer, blockSize: number, dirty: Uint8Array): number;

  /**
   * Whether copy-on-write checkpoints work in this process (userfaultfd in synchronous
   * write-protect mode, full mode, protection of unpopulated pages), and if not why. Probed once,
   * with a real protect / fault / save round trip.
   */
  cowSupport(): { available: boolean; reason: string | null };
  /**
   * At a safe point: puts the region in copy-on-write mode (registers it with the synchronous
   * userfaultfd; it must not be tracked in asynchronous mode then), sets pending[b] = 1 for every
   * block written since the last cowCapture, pending[b] = 2 (unless it is 1) for every block a
   * sequential writer was let into ahead of its faults (maybe written), and write-protects them
   * again (every block the first time). Returns how many blocks were written (the 1s). Waits for
   * a flush still running.
   */
  cowCapture(buffer: ArrayBuffer, blockSize: number, pending: Uint8Array): number;
  /**
   * Right after cowCapture: saves each block b with slots[b] ≥ 0 into memory at slots[b] as it
   * is now, in the background (the addon's flusher thread, and the fault handler before the job's first
   * write to a block not yet saved); returns at once. ready[0] becomes 1 when every block is
   * saved, -1 when the flush was cancelled (the region was released by its finalizer or the
   * environment's teardown). memory must stay alive and unwritten, and ready alive, until then:
   * the addon holds no reference to either (a collected one would be written after it was freed).
   */
  cowFlush(buffer: ArrayBuffer, memory: Uint8Array, slots: Float64Array, ready: Int32Array): void;
  /**
   * Ends copy-on-write for the region: finishes a flush in progress on the calling thread, lifts
   * the protection and unregisters it. Blocks written since the last cowCapture are not reported.
   */
  cowRelease(buffer: ArrayBuffer): void;
  /** The region's copy-on-write figures, or null when it is not in copy-on-write mode. */
  cowStats(buffer: ArrayBuffer): NativeCowStats | null;

  /** XXH64 with seed 0. */
  hash64(data: Uint8Array): bigint;
  /** A block hash of the kind numbered `hash` (NATIVE_HASH_KINDS), seed 0. */
  blockHash(data: Uint8Array, hash: number): bigint;
  /** Byte-plane shuffle: dst[b*n + i] = src[i*es + b] for n = floor(len/es); the len % es tail is copied. */
  shuffle(src: Uint8Array, dst: Uint8Array, elementSize: number): void;
  unshuffle(src: Uint8Array, dst: Uint8Array, elementSize: number): void;
  compressBound(length: number): number;
  /** One zstd frame (content size recorded), synchronously. */
  compressFrame(src: Uint8Array, level: number): Uint8Array;
  /** Decompresses one frame into dst; returns the number of bytes written, throws on a bad frame. */
  decompressFrame(src: Uint8Array, dst: Uint8Array): number;

  /**
   * Encodes src as consecutive blocks of blockSize bytes (the last may be shorter) on the addon's
   * threads: raw hash, shuffle (elementSize > 1), zstd at level, stored hash, the hashes of the
   * kind numbered `hash`. Block i is written to dst at i*dstStride; a block that zstd does not
   * shrink is stored raw. Resolves when all are done. src and dst must stay untouched until then.
   * `background`: on the addon's lower-priority threads (nice 5), for images encoded while the
   * job computes.
   */
  encodeBlocks(
    src: Uint8Array,
    blockSize: number,
    elementSize: number,
    level: number,
    dst: Uint8Array,
    dstStride: number,
    out: NativeEncodeOut,
    background: boolean,
    hash: number,
  ): Promise<void>;

  /**
   * Decodes n blocks on the addon's threads while the caller waits: checks the stored hash of
   * src[srcOffsets[i], +storedLengths[i]], decompresses (or copies) and unshuffles into
   * dst[dstOffsets[i], +rawLengths[i]], then checks the raw hash. Never writes outside those
   * ranges, whatever the input.
   */
  decodeBlocks(src: Uint8Array, srcOffsets: Float64Array, ...blocks: NativeBlockTargets): NativeDecodeFailure | null;

  /**
   * Reads and decodes n blocks from files on the addon's threads while the caller waits (the
   * calling thread helps): each thread preads block i's stored bytes (storedLengths[i] bytes at
   * positions[i] of fds[i], short reads retried) into a buffer of its own, then does what
   * decodeBlocks does, after checking that the stored bytes have the shape flags[i] promises
   * (else 'decompress', as the portable codec reports; undefined flags are such damage). Reports
   * the lowest failing block. Never writes outside dst[dstOffsets[i], +rawLengths[i]]; the fds
   * must stay open until it returns.
   */
  readBlocks(fds: Int32Array, positions: Float64Array, ...blocks: NativeBlockTargets): NativeReadFailure | null;
}

export const NATIVE_ABI_VERSION = 9;

/** The addon's vector paths on x86-64, narrowest first (native/src/simd.h); CR_SIMD names one. */
export const SIMD_PATHS = ['sse2', 'avx2', 'avx512'] as const;
export type SimdPaths = (typeof SIMD_PATHS)[number];

/** Block flags, as stored in the image manifest and used by the addon (defined with the format). */
export { BLOCK_FLAG_PLANES, BLOCK_FLAG_SHUFFLE, BLOCK_FLAG_ZSTD } from '../image/format.js';

export interface NativeLoadResult {
  binding: NativeBinding | null;
  /** Why the addon is not used, when it is not. */
  reason: string | null;
}

let cached: NativeLoadResult | undefined;

/** Loads the addon once. `CR_NATIVE=0` forces the portable path. */
/**
 * Where the addon is loaded from: build/Release/cr_native.node, or CR_NATIVE_FILE (another build
 * of it: npm run test:sanitize loads its AddressSanitizer build this way).
 */
export function nativeAddonFile(): string {
  // dist/src/native/binding.js → <package root>/build/Release/cr_native.node
  return process.env.CR_NATIVE_FILE || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'build', 'Release', 'cr_native.node');
}

export function loadNative(): NativeLoadResult {
  if (cached) return cached;
  if (process.env.CR_NATIVE === '0') {
    cached = { binding: null, reason: 'disabled by CR_NATIVE=0' };
    return cached;
  }
  const file = nativeAddonFile();
  try {
    const require = createRequire(import.meta.url);
    const binding = require(file) as NativeBinding;
    if (binding.abiVersion !== NATIVE_ABI_VERSION) {
      cached = {
        binding: null,
        reason: `native addon at ${file} has ABI ${binding.abiVersion}, expected ${NATIVE_ABI_VERSION}: run "npm run build"`,
      };
    } else if (binding.nodeModuleVersion !== Number(process.versions.modules)) {
      cached = {
        binding: null,
        reason:
          `native addon at ${file} was built for another Node.js (module version ${binding.nodeModuleVersion}; this is ${process.version}, ` +
          `module version ${process.versions.modules}): run "npm rebuild" where cr is installed`,
      };
    } else {
      cached = { binding, reason: null };
      const simd = process.env.CR_SIMD;
      if (simd !== undefined && !(SIMD_PATHS as readonly string[]).includes(simd)) {
        process.emitWarning(`CR_SIMD=${JSON.stringify(simd)} is not one of ${SIMD_PATHS.join(', ')}: the addon takes the widest vector paths this CPU has (${binding.simd})`);
      }
    }
  } catch (err) {
    cached = { binding: null, reason: `native addon not loaded (${(err as Error).message.split('\n')[0]})` };
  }
  return cached;
}
