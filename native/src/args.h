// Argument checking shared by the JS-facing functions. Every check throws a TypeError or a
// RangeError that names the function and the argument, before any memory is touched: the
// typed arrays handed in by JS are the only thing standing between hostile input and an
// out-of-bounds write.
#pragma once

#include <napi.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "hash.h"

namespace cr {

// A typed array's memory as it was when the call started.
struct View {
  napi_value value = nullptr;
  napi_value arraybuffer = nullptr;
  uint8_t* data = nullptr;
  size_t length = 0;      // elements
  size_t byteLength = 0;  // bytes
};

[[noreturn]] void ThrowType(Napi::Env env, const std::string& message);
[[noreturn]] void ThrowRange(Napi::Env env, const std::string& message);

// A typed array of exactly `type` (a Buffer passes as a Uint8Array).
View TypedArrayArg(Napi::Env env, Napi::Value value, napi_typedarray_type type, const char* fn,
                   const char* name);
inline View Uint8ArrayArg(Napi::Env env, Napi::Value value, const char* fn, const char* name) {
  return TypedArrayArg(env, value, napi_uint8_array, fn, name);
}

// A Number that is an integer in [min, max] (max at most 2^53).
int64_t IntegerArg(Napi::Env env, Napi::Value value, const char* fn, const char* name, int64_t min,
                   int64_t max);

// 1, 2, 4 or 8: the only element sizes the image format knows.
unsigned ElementSizeArg(Napi::Env env, Napi::Value value, const char* fn, const char* name);

// A block hash kind by its number: 0 XXH64, 1 XXH3 (hash.h).
HashKind HashKindArg(Napi::Env env, Napi::Value value, const char* fn, const char* name);

// Whether two views share any byte of memory (empty views share none).
bool Overlaps(const View& a, const View& b);

// "block i", as the block-array functions name a block in their errors.
std::string BlockText(size_t i);

// Throws unless block i's rawLength is at most maxRaw (the format's largest block) and its
// storedLength at most maxStored (what zstd may need for such a block): the limits every
// block-array function checks before its pool touches a byte.
void CheckBlockLengths(Napi::Env env, const char* fn, size_t i, uint32_t rawLength,
                       uint32_t storedLength, size_t maxRaw, size_t maxStored);

// The integer in a Float64Array offset slot, if it is one in [0, 2^53]; -1 otherwise.
int64_t OffsetValue(double d);

// Throws unless every block's raw bytes [dstOffset, +rawLength) lie inside dst and no two
// blocks share a byte of it: blocks decoding into the same bytes would race on them from two
// threads. Block is any struct with size_t dstOffset and rawLength.
template <typename Block>
void CheckDestinations(Napi::Env env, const char* fn, const std::vector<Block>& blocks,
                       size_t dstLength) {
  const size_t n = blocks.size();
  for (size_t i = 0; i < n; ++i) {
    const Block& b = blocks[i];
    if (b.dstOffset > dstLength || b.rawLength > dstLength - b.dstOffset) {
      ThrowRange(env, std::string(fn) + ": block " + std::to_string(i) + " raw bytes [" +
                          std::to_string(b.dstOffset) + ", +" + std::to_string(b.rawLength) +
                          ") lie outside dst (" + std::to_string(dstLength) + " bytes)");
    }
  }
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&blocks](size_t a, size_t b) { return blocks[a].dstOffset < blocks[b].dstOffset; });
  size_t end = 0;
  size_t endOwner = 0;
  for (size_t k = 0; k < n; ++k) {
    const Block& b = blocks[order[k]];
    if (b.rawLength == 0) continue;
    if (b.dstOffset < end) {
      ThrowRange(env, std::string(fn) + ": block " + std::to_string(endOwner) + " and block " +
                          std::to_string(order[k]) + " overlap in dst");
    }
    end = b.dstOffset + b.rawLength;
    endOwner = order[k];
  }
}

}  // namespace cr
