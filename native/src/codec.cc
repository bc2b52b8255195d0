#include "codec.h"

#include <cstring>
#include <new>

#include "common/xxhash.h"
#include "shuffle.h"

namespace cr {

uint64_t Hash64(const void* data, size_t len) {
  return XXH64(data, len, 0);
}

ThreadCodec::ThreadCodec() = default;

ThreadCodec::~ThreadCodec() {
  ZSTD_freeCCtx(cctx_);
  ZSTD_freeDCtx(dctx_);
  delete[] scratch_;
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

ThreadCodec& LocalCodec() {
  thread_local ThreadCodec codec;
  return codec;
}

EncodedBlock EncodeBlock(const uint8_t* raw, size_t len, unsigned elementSize, int level,
                         uint8_t* out, size_t outCapacity) {
  ThreadCodec& tc = LocalCodec();
  EncodedBlock r{};
  r.rawHash = Hash64(raw, len);

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
  r.storedHash = Hash64(out, r.storedLength);
  return r;
}

DecodeStatus DecodeBlock(const uint8_t* stored, size_t storedLength, uint8_t flags,
                         uint64_t storedHash, uint64_t rawHash, uint8_t* dst, size_t rawLength,
                         unsigned elementSize) {
  if (Hash64(stored, storedLength) != storedHash) return DecodeStatus::kStoredHash;
  if (flags & kFlagZstd) {
    // The format stores exactly one frame that records its content size. libzstd alone would
    // also accept concatenated or skippable frames, or a frame without a size; refusing them
    // keeps this decoder as strict as the portable one.
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
  } else if (rawLength > 0) {
    std::memcpy(dst, stored, rawLength);
  }
  if (Hash64(dst, rawLength) != rawHash) return DecodeStatus::kRawHash;
  return DecodeStatus::kOk;
}

}  // namespace cr
