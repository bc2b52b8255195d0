#include "hash.h"

#if defined(CR_XXH_DISPATCH)
// Runs XXH3 with the widest vectors the CPU has (SSE2, AVX2, AVX-512), chosen once at run time.
#include "xxh_x86dispatch.h"
#define CR_XXH3 XXH3_64bits_dispatch
#define CR_XXH3_UPDATE XXH3_64bits_update_dispatch
#else
#define CR_XXH3 XXH3_64bits
#define CR_XXH3_UPDATE XXH3_64bits_update
#endif

namespace cr {

uint64_t Hash64(const void* data, size_t len) {
  return XXH64(data, len, 0);
}

uint64_t BlockHash(HashKind kind, const void* data, size_t len) {
  return kind == HashKind::kXxh3 ? CR_XXH3(data, len) : XXH64(data, len, 0);
}

StreamHash::StreamHash(HashKind kind) : kind_(kind) {
  if (kind_ == HashKind::kXxh3) {
    XXH3_64bits_reset(&xxh3_);
  } else {
    XXH64_reset(&xxh64_, 0);
  }
}

void StreamHash::Update(const void* data, size_t len) {
  if (kind_ == HashKind::kXxh3) {
    CR_XXH3_UPDATE(&xxh3_, data, len);
  } else {
    XXH64_update(&xxh64_, data, len);
  }
}

uint64_t StreamHash::Digest() {
  return kind_ == HashKind::kXxh3 ? XXH3_64bits_digest(&xxh3_) : XXH64_digest(&xxh64_);
}

}  // namespace cr
