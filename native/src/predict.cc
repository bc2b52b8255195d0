#include "predict.h"

#include "simd.h"

namespace cr {

#if CR_HAS_AVX2_PATHS

namespace {

// Lane k of the result is u[0] + ... + u[k].
CR_AVX2 inline __m256i PrefixSum(__m256i u) {
  const __m256i byOne =
      _mm256_blend_epi32(_mm256_permute4x64_epi64(u, 0x90), _mm256_setzero_si256(), 0x03);
  u = _mm256_add_epi64(u, byOne);
  return _mm256_add_epi64(u, _mm256_permute2x128_si256(u, u, 0x08));
}

// Every lane set to lane 3.
CR_AVX2 inline __m256i Last(__m256i v) { return _mm256_permute4x64_epi64(v, 0xFF); }

// Four elements a step. Each running sum (the line's slope, then the value) is the prefix sum
// of the step's four inputs plus the sum carried in, and the carry grows by the prefix sum's
// last lane: the only chain from one step to the next is one addition per running sum, and the
// lane shuffles are off it.
template <Predictor P>
CR_AVX2 size_t InverseAvx2Of(uint8_t* buf, size_t count, uint64_t& p1, uint64_t& p2) {
  const __m256i one = _mm256_set1_epi64x(1);
  const __m256i zero = _mm256_setzero_si256();
  __m256i x = _mm256_set1_epi64x(static_cast<long long>(p1));
  __m256i d = _mm256_set1_epi64x(static_cast<long long>(p1 - p2));
  size_t i = 0;
  for (; i + 4 <= count; i += 4) {
    auto* at = reinterpret_cast<__m256i*>(buf + i * 8);
    const __m256i z = _mm256_loadu_si256(at);
    // Unzig: (z >> 1) ^ -(z & 1).
    __m256i u = _mm256_xor_si256(_mm256_srli_epi64(z, 1),
                                 _mm256_sub_epi64(zero, _mm256_and_si256(z, one)));
    if constexpr (P == Predictor::kLine) {
      const __m256i sums = PrefixSum(u);
      u = _mm256_add_epi64(sums, d);
      d = _mm256_add_epi64(d, Last(sums));
    }
    const __m256i sums = PrefixSum(u);
    _mm256_storeu_si256(at, _mm256_add_epi64(sums, x));
    x = _mm256_add_epi64(x, Last(sums));
  }
  const auto last = static_cast<uint64_t>(_mm256_extract_epi64(x, 0));
  // As InverseScalar leaves them: the delta predictor never reads p2.
  p2 = last - static_cast<uint64_t>(_mm256_extract_epi64(d, 0));
  p1 = last;
  return i;
}

}  // namespace

size_t InverseAvx2(uint8_t* buf, size_t count, Predictor p, uint64_t& p1, uint64_t& p2) {
  if (!CpuHasAvx2()) return 0;
  if (p == Predictor::kDelta) return InverseAvx2Of<Predictor::kDelta>(buf, count, p1, p2);
  if (p == Predictor::kLine) return InverseAvx2Of<Predictor::kLine>(buf, count, p1, p2);
  return 0;
}

#else

size_t InverseAvx2(uint8_t*, size_t, Predictor, uint64_t&, uint64_t&) { return 0; }

#endif

}  // namespace cr
