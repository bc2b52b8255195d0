// Plane-coded blocks of the image format (docs/image-format.md, "Plane-coded blocks"): the
// elements of a block are optionally replaced by their difference from a prediction (the previous
// element, or a line through the two before), byte-shuffled, and each byte plane is stored on its
// own, raw or as one zstd frame, whichever its estimated entropy and zstd say. The low planes of
// noisy floating-point data are random: storing them raw costs a copy instead of a failed zstd
// pass, and the prediction empties the high planes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hash.h"
#include "predict.h"
#include "zstd.h"

namespace cr {

enum class PlaneCoding : uint8_t { kRaw = 0, kZstd = 1 };

// Header: predictor (1 byte), element size (1 byte), then per plane its coding (1 byte) and
// stored length (4 bytes, little-endian).
constexpr size_t PlanesHeaderLength(unsigned elementSize) { return 2 + 5 * size_t{elementSize}; }

// Whether a block of len bytes and this element size is plane-coded at all: it needs whole
// elements to predict and enough of them that the header and frames pay.
bool PlanesApply(size_t len, unsigned elementSize);

// Encodes raw[0, len) into out (room for ZSTD_compressBound(len) bytes) as a plane-coded block.
// `scratch` holds len bytes. Returns the stored length, or 0 when the result would not be
// smaller than len (the caller stores the block raw). Sets *rawHash to the hash of raw.
size_t EncodePlanes(const uint8_t* raw, size_t len, unsigned elementSize, int level,
                    HashKind hash, ZSTD_CCtx* cctx, uint8_t* scratch, uint8_t* out,
                    size_t outCapacity, uint64_t* rawHash);

// Whether `stored` is a well-formed plane-coded block of rawLength bytes: a known predictor, an
// element size of 2, 4 or 8, codings it defines, raw planes of exactly rawLength / elementSize
// bytes, zstd planes of exactly one frame of that content size (by the same rules as a zstd
// block), and lengths that add up to storedLength with the tail.
bool PlanesAreWellFormed(const uint8_t* stored, size_t storedLength, size_t rawLength);

enum class PlanesStatus : uint8_t { kOk, kMalformed, kNoMemory };

// Decodes a well-formed plane-coded block into dst[0, rawLength) and sets *rawHash to the hash
// of what it wrote. kMalformed also when the block's element size is not `elementSize`.
PlanesStatus DecodePlanes(const uint8_t* stored, size_t storedLength, uint8_t* dst,
                          size_t rawLength, unsigned elementSize, HashKind hash,
                          ZSTD_DCtx* dctx, uint8_t* scratch, uint64_t* rawHash);

}  // namespace cr
