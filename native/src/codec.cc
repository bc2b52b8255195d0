#include "codec.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "block-files.h"
#include "planes.h"
#include "shuffle.h"

namespace cr {

ThreadCodec::ThreadCodec() = default;

ThreadCodec::~ThreadCodec() {
  ZSTD_freeCCtx(cctx_);
  ZSTD_freeDCtx(dctx_);
  delete[] scratch_;
  UnmapDirectPage(readBuffer_);
}

ZSTD_CCtx* ThreadCodec::Compressor() {
  if (cctx_ == nullptr) cctx_ = ZSTD_createCCtx();
  return cctx_;
}

ZSTD_DCtx* ThreadCodec::Decompressor() {
  if (dctx_ == nullptr) dctx_ = ZSTD_createDCtx();
  return dctx_;
}

uint8_t* ThreadCodec::Scratch() {
  if (scratch_ == nullptr) scratch_ = new (std::nothrow) uint8_t[kMaxBlockSize];
  return scratch_;
}

uint8_t* ThreadCodec::ReadBuffer() {
  static_assert(kReadBufferSize >= ZSTD_COMPRESSBOUND(kMaxBlockSize) + 2 * kDirectAlignment,
                "a read buffer holds a block's stored bytes and the alignment around them");
  static_assert(kReadBufferSize <= kDirectPage, "a read buffer is one huge page");
  if (readBuffer_ == nullptr) readBuffer_ = MapDirectPage();
  return readBuffer_;
}

ThreadCodec& LocalCodec() {
  thread_local ThreadCodec codec;
  return codec;
}

bool FlagsAreDefined(uint8_t flags) {
  return flags == 0 || flags == kFlagZstd || flags == (kFlagZstd | kFlagShuffle) ||
         flags == kFlagPlanes;
}

EncodedBlock EncodeBlock(const uint8_t* raw, size_t len, unsigned elementSize, int level,
                         HashKind hash, uint8_t* out, size_t outCapacity) {
  ThreadCodec& tc = LocalCodec();
  EncodedBlock r{};
  if (PlanesApply(len, elementSize)) {
    uint8_t* scratch = tc.Scratch();
    ZSTD_CCtx* cctx = tc.Compressor();
    if (scratch != nullptr && cctx != nullptr) {
      const size_t stored =
          EncodePlanes(raw, len, elementSize, level, hash, cctx, scratch, out, outCapacity,
                       &r.rawHash);
      if (stored > 0) {
        r.storedLength = static_cast<uint32_t>(stored);
        r.flags = kFlagPlanes;
      } else {
        // Nothing to gain: the block compresses no better as a whole (its planes did not).
        std::memcpy(out, raw, len);
        r.storedLength = static_cast<uint32_t>(len);
        r.flags = 0;
      }
      r.storedHash = r.flags == 0 ? r.rawHash : BlockHash(hash, out, r.storedLength);
      return r;
    }
  }
  r.rawHash = BlockHash(hash, raw, len);

  const uint8_t* input = raw;
  uint8_t shuffled = 0;
  if (elementSize > 1) {
    if (uint8_t* scratch = tc.Scratch()) {
      Shuffle(raw, scratch, len, elementSize);
      input = scratch;
      shuffled = kFlagShuffle;
    }
  }
  size_t frame = 0;
  bool framed = false;
  if (ZSTD_CCtx* cctx = tc.Compressor()) {
    // ZSTD_compressCCtx resets the context to `level` with default parameters, which include
    // writing the content size into the frame header.
    frame = ZSTD_compressCCtx(cctx, out, outCapacity, input, len, level);
    framed = !ZSTD_isError(frame) && frame < len;
  }
  if (framed) {
    r.storedLength = static_cast<uint32_t>(frame);
    r.flags = kFlagZstd | shuffled;
  } else {
    if (len > 0) std::memcpy(out, raw, len);
    r.storedLength = static_cast<uint32_t>(len);
    r.flags = 0;
  }
  r.storedHash = r.flags == 0 ? r.rawHash : BlockHash(hash, out, r.storedLength);
  return r;
}

namespace {

// DecodeBlock of a coded block (planes, or zstd), without naming a failure by the stored hash.
DecodeStatus DecodeBlockContent(const uint8_t* stored, size_t storedLength, uint8_t flags,
                                HashKind hash, uint64_t rawHash, uint8_t* dst, size_t rawLength,
                                unsigned elementSize) {
  if (flags == kFlagPlanes) {
    ThreadCodec& tc = LocalCodec();
    uint64_t decoded = 0;
    switch (DecodePlanes(stored, storedLength, dst, rawLength, elementSize, hash,
                         tc.Decompressor(), tc.Scratch(), &decoded)) {
      case PlanesStatus::kOk: break;
      case PlanesStatus::kMalformed: return DecodeStatus::kDecompress;
      case PlanesStatus::kNoMemory: return DecodeStatus::kNoMemory;
    }
    return decoded == rawHash ? DecodeStatus::kOk : DecodeStatus::kRawHash;
  }
  // zstd, shuffled or not. The format stores exactly one frame that records its content size.
  // libzstd alone would also accept concatenated or skippable frames, or a frame without a size;
  // refusing them keeps this decoder as strict as the portable one.
  if (ZSTD_getFrameContentSize(stored, storedLength) != rawLength) {
    return DecodeStatus::kDecompress;
  }
  const size_t frameLength = ZSTD_findFrameCompressedSize(stored, storedLength);
  if (ZSTD_isError(frameLength) || frameLength != storedLength) return DecodeStatus::kDecompress;
  ThreadCodec& tc = LocalCodec();
  ZSTD_DCtx* dctx = tc.Decompressor();
  if (dctx == nullptr) return DecodeStatus::kNoMemory;
  const bool unshuffle = (flags & kFlagShuffle) && elementSize > 1;
  uint8_t* target = dst;
  if (unshuffle) {
    target = tc.Scratch();
    if (target == nullptr) return DecodeStatus::kNoMemory;
  }
  // The capacity is exactly rawLength: a frame that holds more fails here instead of
  // writing past the block.
  size_t got = ZSTD_decompressDCtx(dctx, target, rawLength, stored, storedLength);
  if (ZSTD_isError(got) || got != rawLength) return DecodeStatus::kDecompress;
  if (unshuffle) Unshuffle(target, dst, rawLength, elementSize);
  if (BlockHash(hash, dst, rawLength) != rawHash) return DecodeStatus::kRawHash;
  return DecodeStatus::kOk;
}

}  // namespace

DecodeStatus DecodeBlock(const uint8_t* stored, size_t storedLength, uint8_t flags,
                         HashKind hash, uint64_t storedHash, uint64_t rawHash, uint8_t* dst,
                         size_t rawLength, unsigned elementSize) {
  if (flags == 0) {
    // A raw block's stored bytes are its raw bytes: one hash checks both.
    const uint64_t h = BlockHash(hash, stored, storedLength);
    if (h != storedHash) return DecodeStatus::kStoredHash;
    if (h != rawHash) return DecodeStatus::kRawHash;
    if (rawLength > 0 && stored != dst) std::memcpy(dst, stored, rawLength);
    return DecodeStatus::kOk;
  }
  return NameFailure(
      DecodeBlockContent(stored, storedLength, flags, hash, rawHash, dst, rawLength, elementSize),
      stored, storedLength, hash, storedHash);
}

DecodeStatus NameFailure(DecodeStatus s, const uint8_t* stored, size_t storedLength,
                         HashKind hash, uint64_t storedHash) {
  if (s == DecodeStatus::kOk || s == DecodeStatus::kNoMemory) return s;
  return BlockHash(hash, stored, storedLength) != storedHash ? DecodeStatus::kStoredHash : s;
}

namespace {

uint32_t Le(const uint8_t* p, int n) {
  uint32_t v = 0;
  for (int k = n - 1; k >= 0; --k) v = (v << 8) | p[k];
  return v;
}

}  // namespace

// A line-by-line port of zstdFrameContentSize in src/codec/portable.ts.
int64_t ZstdFrameContentSize(const uint8_t* frame, size_t len) {
  constexpr uint32_t kMagic = 0xFD2FB528u;
  constexpr uint64_t kBlockSizeMax = 128 * 1024;
  if (len < 5) return -1;
  if (Le(frame, 4) != kMagic) return -1;
  const uint8_t fhd = frame[4];
  const unsigned fcsFlag = fhd >> 6;
  const unsigned singleSegment = (fhd >> 5) & 1;
  const unsigned reserved = (fhd >> 3) & 1;
  const unsigned hasChecksum = (fhd >> 2) & 1;
  const unsigned didFlag = fhd & 3;
  if (reserved != 0) return -1;
  size_t p = 5;
  uint64_t windowSize = 0;
  if (!singleSegment) {
    if (p >= len) return -1;
    const uint8_t wd = frame[p++];
    // Exponents up to 10 + 31: exact in 64 bits.
    const uint64_t windowBase = uint64_t{1} << (10 + (wd >> 3));
    windowSize = windowBase + (windowBase / 8) * (wd & 7);
  }
  const size_t didSize = didFlag == 0 ? 0 : didFlag == 1 ? 1 : didFlag == 2 ? 2 : 4;
  if (p + didSize > len) return -1;
  for (size_t k = 0; k < didSize; ++k) {
    if (frame[p + k] != 0) return -1;
  }
  p += didSize;
  const size_t fcsSize =
      fcsFlag == 0 ? (singleSegment ? 1 : 0) : fcsFlag == 1 ? 2 : fcsFlag == 2 ? 4 : 8;
  if (fcsSize == 0) return -1;
  if (p + fcsSize > len) return -1;
  uint64_t contentSize = 0;
  for (size_t k = fcsSize; k-- > 0;) contentSize = contentSize * 256 + frame[p + k];
  if (fcsSize == 2) contentSize += 256;
  // Above 2^53 the portable check's doubles are inexact, but no block is anywhere near as long:
  // such a frame never matches a rawLength <= 1 MiB either way.
  if (contentSize > (uint64_t{1} << 53)) return -1;
  p += fcsSize;
  if (singleSegment) windowSize = contentSize;
  const uint64_t blockMax = std::min<uint64_t>(windowSize, kBlockSizeMax);
  for (;;) {
    if (p + 3 > len) return -1;
    const uint32_t header = Le(frame + p, 3);
    p += 3;
    const unsigned last = header & 1;
    const unsigned type = (header >> 1) & 3;
    const uint32_t size = header >> 3;
    if (type == 3 || size > blockMax) return -1;
    p += type == 1 ? 1 : size;
    if (p > len) return -1;
    if (last) break;
  }
  if (hasChecksum) p += 4;
  return p == len ? static_cast<int64_t>(contentSize) : -1;
}

bool StoredBlockIsWellFormed(const uint8_t* stored, size_t storedLength, uint8_t flags,
                             size_t rawLength) {
  if (flags == 0) return storedLength == rawLength;
  if (flags == kFlagPlanes) {
    return rawLength > 0 && storedLength <= ZSTD_compressBound(rawLength) &&
           PlanesAreWellFormed(stored, storedLength, rawLength);
  }
  if (flags != kFlagZstd && flags != (kFlagZstd | kFlagShuffle)) return false;
  return rawLength > 0 && storedLength <= ZSTD_compressBound(rawLength) &&
         ZstdFrameContentSize(stored, storedLength) == static_cast<int64_t>(rawLength);
}

}  // namespace cr
