#include "shuffle.h"

#include <cstring>

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#define CR_SHUFFLE_SSE2 1
#endif

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

#if CR_SHUFFLE_SSE2

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

#endif  // CR_SHUFFLE_SSE2

}  // namespace

void ShufflePlanes(const uint8_t* src, uint8_t* const* planes, size_t n, unsigned es) {
  size_t done = 0;
#if CR_SHUFFLE_SSE2
  switch (es) {
    case 2: done = ShuffleVector<2>(src, planes, n); break;
    case 4: done = ShuffleVector<4>(src, planes, n); break;
    case 8: done = ShuffleVector<8>(src, planes, n); break;
    default: break;
  }
#endif
  ShuffleScalar(src, planes, n, done, es);
}

void UnshufflePlanes(const uint8_t* const* planes, uint8_t* dst, size_t n, unsigned es) {
  size_t done = 0;
#if CR_SHUFFLE_SSE2
  switch (es) {
    case 2: done = UnshuffleVector<2, 1>(planes, dst, n); break;
    case 4: done = UnshuffleVector<4, 2>(planes, dst, n); break;
    case 8: done = UnshuffleVector<8, 3>(planes, dst, n); break;
    default: break;
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
