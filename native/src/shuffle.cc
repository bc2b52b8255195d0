#include "shuffle.h"

#include <cstring>

#include "simd.h"

namespace cr {

namespace {

// Portable paths, also used for the elements left over after the vector loops.
void ShuffleScalar(const uint8_t* src, uint8_t* const* planes, size_t n, size_t from,
                   unsigned es) {
  for (unsigned b = 0; b < es; ++b) {
    uint8_t* plane = planes[b];
    for (size_t i = from; i < n; ++i) plane[i] = src[i * es + b];
  }
}

void UnshuffleScalar(const uint8_t* const* planes, uint8_t* dst, size_t n, size_t from,
                     unsigned es) {
  for (unsigned b = 0; b < es; ++b) {
    const uint8_t* plane = planes[b];
    for (size_t i = from; i < n; ++i) dst[i * es + b] = plane[i];
  }
}

#if CR_SSE2

// 16 elements of ES bytes fill R = ES registers. Number the 16*ES bytes by a (4 + log2 ES)-bit
// address: register index above, byte-in-register below. One round of unpacklo/unpackhi_epi8
// over the register pairs (k, k + R/2) moves every byte from address a to rotl(a, 1).
//   shuffle:   bytes arrive as (element, byte) and must leave as (byte, element): rotl by 4,
//              so 4 rounds; register b then holds byte b of the 16 elements.
//   unshuffle: the reverse, (byte, element) to (element, byte): rotl by log2(ES) rounds.
template <int R>
inline void Round(__m128i (&x)[R]) {
  __m128i y[R];
  for (int k = 0; k < R / 2; ++k) {
    y[2 * k] = _mm_unpacklo_epi8(x[k], x[k + R / 2]);
    y[2 * k + 1] = _mm_unpackhi_epi8(x[k], x[k + R / 2]);
  }
  for (int k = 0; k < R; ++k) x[k] = y[k];
}

template <int ES>
size_t ShuffleVector(const uint8_t* src, uint8_t* const* planes, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m128i x[ES];
    for (int k = 0; k < ES; ++k) {
      x[k] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i * ES + 16 * k));
    }
    Round<ES>(x);
    Round<ES>(x);
    Round<ES>(x);
    Round<ES>(x);
    for (int b = 0; b < ES; ++b) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(planes[b] + i), x[b]);
    }
  }
  return i;
}

template <int ES, int LOG2>
size_t UnshuffleVector(const uint8_t* const* planes, uint8_t* dst, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m128i x[ES];
    for (int b = 0; b < ES; ++b) {
      x[b] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(planes[b] + i));
    }
    for (int r = 0; r < LOG2; ++r) Round<ES>(x);
    for (int k = 0; k < ES; ++k) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i * ES + 16 * k), x[k]);
    }
  }
  return i;
}

#endif  // CR_SSE2

#if CR_HAS_AVX2_PATHS

// The rounds above on 32-byte registers, whose two 128-bit lanes the unpacks keep apart: each
// lane runs the SSE2 algorithm on 16 elements of its own, so a step covers 32 elements.
template <int R>
CR_AVX2 inline void Round256(__m256i (&x)[R]) {
  __m256i y[R];
  for (int k = 0; k < R / 2; ++k) {
    y[2 * k] = _mm256_unpacklo_epi8(x[k], x[k + R / 2]);
    y[2 * k + 1] = _mm256_unpackhi_epi8(x[k], x[k + R / 2]);
  }
  for (int k = 0; k < R; ++k) x[k] = y[k];
}

template <int ES>
CR_AVX2 size_t ShuffleVector256(const uint8_t* src, uint8_t* const* planes, size_t n) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    // Lane 0 of register k: bytes [16k, 16k + 16) of elements i..i+15; lane 1: the same of
    // elements i+16..i+31.
    const uint8_t* first = src + i * ES;
    const uint8_t* second = first + 16 * ES;
    __m256i x[ES];
    for (int k = 0; k < ES; ++k) {
      const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(first + 16 * k));
      const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(second + 16 * k));
      x[k] = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
    }
    Round256<ES>(x);
    Round256<ES>(x);
    Round256<ES>(x);
    Round256<ES>(x);
    // Register b now holds plane b of elements i..i+31, in order.
    for (int b = 0; b < ES; ++b) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(planes[b] + i), x[b]);
    }
  }
  return i;
}

template <int ES, int LOG2>
CR_AVX2 size_t UnshuffleVector256(const uint8_t* const* planes, uint8_t* dst, size_t n) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i x[ES];
    for (int b = 0; b < ES; ++b) {
      x[b] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(planes[b] + i));
    }
    for (int r = 0; r < LOG2; ++r) Round256<ES>(x);
    // Lane 0 of register k is bytes [16k, 16k + 16) of elements i..i+15, lane 1 the same of
    // elements i+16..i+31.
    uint8_t* first = dst + i * ES;
    uint8_t* second = first + 16 * ES;
    for (int k = 0; k < ES; ++k) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(first + 16 * k), _mm256_castsi256_si128(x[k]));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(second + 16 * k),
                       _mm256_extracti128_si256(x[k], 1));
    }
  }
  return i;
}

#endif  // CR_HAS_AVX2_PATHS

}  // namespace

void ShufflePlanes(const uint8_t* src, uint8_t* const* planes, size_t n, unsigned es) {
  size_t done = 0;
#if CR_HAS_AVX2_PATHS
  if (CpuHasAvx2()) {
    switch (es) {
      case 2: done = ShuffleVector256<2>(src, planes, n); break;
      case 4: done = ShuffleVector256<4>(src, planes, n); break;
      case 8: done = ShuffleVector256<8>(src, planes, n); break;
      default: break;
    }
  }
#endif
#if CR_SSE2
  if (done + 16 <= n) {
    uint8_t* rest[kMaxPlanes];
    for (unsigned b = 0; b < es && b < kMaxPlanes; ++b) rest[b] = planes[b] + done;
    switch (es) {
      case 2: done += ShuffleVector<2>(src + done * es, rest, n - done); break;
      case 4: done += ShuffleVector<4>(src + done * es, rest, n - done); break;
      case 8: done += ShuffleVector<8>(src + done * es, rest, n - done); break;
      default: break;
    }
  }
#endif
  ShuffleScalar(src, planes, n, done, es);
}

void UnshufflePlanes(const uint8_t* const* planes, uint8_t* dst, size_t n, unsigned es) {
  size_t done = 0;
#if CR_HAS_AVX2_PATHS
  if (CpuHasAvx2()) {
    switch (es) {
      case 2: done = UnshuffleVector256<2, 1>(planes, dst, n); break;
      case 4: done = UnshuffleVector256<4, 2>(planes, dst, n); break;
      case 8: done = UnshuffleVector256<8, 3>(planes, dst, n); break;
      default: break;
    }
  }
#endif
#if CR_SSE2
  if (done + 16 <= n) {
    const uint8_t* rest[kMaxPlanes];
    for (unsigned b = 0; b < es && b < kMaxPlanes; ++b) rest[b] = planes[b] + done;
    switch (es) {
      case 2: done += UnshuffleVector<2, 1>(rest, dst + done * es, n - done); break;
      case 4: done += UnshuffleVector<4, 2>(rest, dst + done * es, n - done); break;
      case 8: done += UnshuffleVector<8, 3>(rest, dst + done * es, n - done); break;
      default: break;
    }
  }
#endif
  UnshuffleScalar(planes, dst, n, done, es);
}

void Shuffle(const uint8_t* src, uint8_t* dst, size_t len, unsigned es) {
  if (len == 0) return;
  if (es <= 1) {
    std::memcpy(dst, src, len);
    return;
  }
  const size_t n = len / es;
  if (es <= kMaxPlanes) {
    uint8_t* planes[kMaxPlanes];
    for (unsigned b = 0; b < es; ++b) planes[b] = dst + b * n;
    ShufflePlanes(src, planes, n, es);
  } else {
    for (unsigned b = 0; b < es; ++b) {
      for (size_t i = 0; i < n; ++i) dst[b * n + i] = src[i * es + b];
    }
  }
  const size_t body = n * es;
  if (len > body) std::memcpy(dst + body, src + body, len - body);
}

void Unshuffle(const uint8_t* src, uint8_t* dst, size_t len, unsigned es) {
  if (len == 0) return;
  if (es <= 1) {
    std::memcpy(dst, src, len);
    return;
  }
  const size_t n = len / es;
  const uint8_t* planes[kMaxPlanes];
  for (unsigned b = 0; b < es && b < kMaxPlanes; ++b) planes[b] = src + b * n;
  if (es <= kMaxPlanes) {
    UnshufflePlanes(planes, dst, n, es);
  } else {
    for (unsigned b = 0; b < es; ++b) {
      for (size_t i = 0; i < n; ++i) dst[i * es + b] = src[b * n + i];
    }
  }
  const size_t body = n * es;
  if (len > body) std::memcpy(dst + body, src + body, len - body);
}

}  // namespace cr
