// Block hashes (docs/image-format.md, "Blocks"): XXH64 in images of formats 1 and 2, XXH3-64
// from format 3, which hashes a block about twice as fast (AVX2 where the CPU has it, chosen at
// run time). Both with seed 0. The footer's manifest hash stays XXH64 in every format.
#pragma once

#include <cstddef>
#include <cstdint>

#define XXH_STATIC_LINKING_ONLY
#include "xxhash.h"

namespace cr {

enum class HashKind : uint8_t { kXxh64 = 0, kXxh3 = 1 };

// XXH64 with seed 0: the footer's manifest hash, and block hashes before format 3.
uint64_t Hash64(const void* data, size_t len);

uint64_t BlockHash(HashKind kind, const void* data, size_t len);

// A block hash fed in pieces (the plane coder hashes each chunk while it is in L1).
class StreamHash {
 public:
  explicit StreamHash(HashKind kind);
  void Update(const void* data, size_t len);
  uint64_t Digest();

 private:
  HashKind kind_;
  union {
    XXH64_state_t xxh64_;
    XXH3_state_t xxh3_;
  };
};

}  // namespace cr
