// One block of the image format (docs/image-format.md, "Blocks"), encoded or decoded on
// whichever thread runs it, with that thread's own zstd contexts and scratch memory.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hash.h"
#include "zstd.h"

namespace cr {

constexpr size_t kMaxBlockSize = size_t{1} << 20;
// Direct (O_DIRECT) reads start, end and land at multiples of this: the page size, which covers
// the logical block size of the disks cr runs on.
constexpr size_t kDirectAlignment = 4096;
// ZSTD_compressBound(kMaxBlockSize) (a constant of the format: zstd's bound for 1 MiB), plus an
// alignment unit before a block's first byte and one after its last, rounded up.
constexpr size_t kReadBufferSize =
    ((kMaxBlockSize + (kMaxBlockSize >> 8) + 2 * kDirectAlignment) + kDirectAlignment - 1) /
    kDirectAlignment * kDirectAlignment;
constexpr uint8_t kFlagZstd = 1;
constexpr uint8_t kFlagShuffle = 2;
// Format 2: the block is plane-coded (planes.h); never combined with the other bits.
constexpr uint8_t kFlagPlanes = 4;

// Whether `flags` is a combination the format defines: 0, zstd, zstd + shuffle, or planes.
bool FlagsAreDefined(uint8_t flags);

// The content size of `frame` if it is exactly one zstd frame as StoredBlockIsWellFormed
// requires (RFC 8878: content size recorded, no dictionary, no trailing bytes), else -1.
int64_t ZstdFrameContentSize(const uint8_t* frame, size_t len);

// Per-thread zstd contexts and a kMaxBlockSize scratch buffer, created on first use and kept
// for the thread's lifetime (pool workers live as long as the process; a worker_thread's are
// freed when it exits). Any member may be null if allocation failed.
struct ThreadCodec {
  ThreadCodec();
  ~ThreadCodec();
  ThreadCodec(const ThreadCodec&) = delete;
  ThreadCodec& operator=(const ThreadCodec&) = delete;

  ZSTD_CCtx* Compressor();
  ZSTD_DCtx* Decompressor();
  uint8_t* Scratch();
  // Room for the stored bytes of one block read from a file, aligned for direct I/O:
  // kReadBufferSize bytes at a multiple of kDirectAlignment, in one huge page (block-files.h,
  // MapDirectPage).
  uint8_t* ReadBuffer();

 private:
  ZSTD_CCtx* cctx_ = nullptr;
  ZSTD_DCtx* dctx_ = nullptr;
  uint8_t* scratch_ = nullptr;
  uint8_t* readBuffer_ = nullptr;
};

ThreadCodec& LocalCodec();

struct EncodedBlock {
  uint32_t storedLength;
  uint8_t flags;
  uint64_t rawHash;
  uint64_t storedHash;
};

// Encodes raw[0, len) (len <= kMaxBlockSize) into out, which has room for
// ZSTD_compressBound(len) bytes, with hashes of `hash`'s kind. Never fails: without a usable
// frame the block is stored raw.
EncodedBlock EncodeBlock(const uint8_t* raw, size_t len, unsigned elementSize, int level,
                         HashKind hash, uint8_t* out, size_t outCapacity);

enum class DecodeStatus : uint8_t {
  kOk = 0,
  kStoredHash,
  kDecompress,
  kRawHash,
  kNoMemory,  // a context or scratch buffer could not be allocated: not the image's fault
};

// Decodes one block into dst[0, rawLength) and checks it: what it wrote must hash to rawHash.
// Writes nowhere else; stored may be dst for a raw block. The caller has checked
// FlagsAreDefined(flags), rawLength <= kMaxBlockSize, and storedLength == rawLength for a raw
// block.
//
// A coded block's stored hash is not checked on the way: when what it decodes to matches the raw
// hash, those are the bytes the writer hashed, whatever the stored bytes are, and hashing them
// too would read every stored byte once more. When decoding fails, the stored hash names the
// cause: damaged stored bytes (kStoredHash) before a refusal of intact ones (kDecompress,
// kRawHash). (A raw block's one hash is both, and checks both.)
DecodeStatus DecodeBlock(const uint8_t* stored, size_t storedLength, uint8_t flags,
                         HashKind hash, uint64_t storedHash, uint64_t rawHash, uint8_t* dst,
                         size_t rawLength, unsigned elementSize);

// The failure `s` of a block's decoding, named as DecodeBlock names it: kStoredHash if the
// stored bytes do not match their hash, else s.
DecodeStatus NameFailure(DecodeStatus s, const uint8_t* stored, size_t storedLength,
                         HashKind hash, uint64_t storedHash);

// Whether stored bytes have the shape their flags promise, by the rules of the portable codec's
// storedBlockIsWellFormed (src/codec/portable.ts): raw bytes of exactly rawLength, exactly one
// structurally sound zstd frame (RFC 8878) with a content size of rawLength, no dictionary, no
// trailing bytes, or a well-formed plane-coded block (PlanesAreWellFormed). Both codecs refuse
// the same blocks this way.
bool StoredBlockIsWellFormed(const uint8_t* stored, size_t storedLength, uint8_t flags,
                             size_t rawLength);

}  // namespace cr
