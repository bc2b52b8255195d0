#include "stream-out.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "simd.h"

namespace cr {

bool Resident(const void* p, size_t len) {
  if (len == 0) return true;
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t first = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  const uintptr_t end = reinterpret_cast<uintptr_t>(p) + len;
  // A few hundred pages at a time: a block is at most 1 MiB.
  unsigned char vec[512];
  for (uintptr_t at = first; at < end; at += sizeof(vec) * page) {
    const size_t span = std::min<uintptr_t>(end - at, sizeof(vec) * page);
    if (mincore(reinterpret_cast<void*>(at), span, vec) != 0) return false;
    const size_t pages = (span + page - 1) / page;
    for (size_t k = 0; k < pages; ++k) {
      if ((vec[k] & 1) == 0) return false;
    }
  }
  return true;
}

namespace {

#if CR_HAS_AVX2_PATHS
// Whole 64-byte lines from a 64-byte-aligned dst: one store writes a line, where four 16-byte
// stores fill it in the write-combining buffer. Returns the bytes copied.
CR_AVX512 size_t StreamLines(uint8_t* dst, const uint8_t* src, size_t len) {
  size_t i = 0;
  for (; i + 64 <= len; i += 64) {
    _mm512_stream_si512(reinterpret_cast<__m512i*>(dst + i), _mm512_loadu_si512(src + i));
  }
  return i;
}
#endif

}  // namespace

void StreamCopy(uint8_t* dst, const uint8_t* src, size_t len) {
  size_t i = 0;
#if CR_SSE2
  if ((reinterpret_cast<uintptr_t>(dst) & 15) == 0) {
#if CR_HAS_AVX2_PATHS
    if (CpuHasAvx512()) {
      // 16 bytes at a time up to the first line, then whole lines.
      for (; i + 16 <= len && (reinterpret_cast<uintptr_t>(dst + i) & 63) != 0; i += 16) {
        _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i),
                         _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
      }
      i += StreamLines(dst + i, src + i, len - i);
    }
#endif
    for (; i + 64 <= len; i += 64) {
      const auto* s = reinterpret_cast<const __m128i*>(src + i);
      auto* d = reinterpret_cast<__m128i*>(dst + i);
      const __m128i a = _mm_loadu_si128(s);
      const __m128i b = _mm_loadu_si128(s + 1);
      const __m128i c = _mm_loadu_si128(s + 2);
      const __m128i e = _mm_loadu_si128(s + 3);
      _mm_stream_si128(d, a);
      _mm_stream_si128(d + 1, b);
      _mm_stream_si128(d + 2, c);
      _mm_stream_si128(d + 3, e);
    }
  }
#endif
  if (i < len) std::memcpy(dst + i, src + i, len - i);
}

void StreamFence() {
#if CR_SSE2
  _mm_sfence();
#endif
}

}  // namespace cr
