#include "restore8.h"

#include <cassert>

#include "simd.h"

namespace cr {

#if CR_HAS_AVX2_PATHS

namespace {

// A group is 64 elements of 8 bytes: eight registers. Its residuals are first arranged "by run":
// the group cut into eight runs of eight elements, register t lane l holding element 8l + t.
// Undoing a prediction is then a running sum down the registers, the same addition in every
// lane, and only the runs' totals cross lanes, once per group; in element order every register's
// sums would cross lanes, which takes about twice the shuffles. The planes reach this
// arrangement, and the restored elements leave it, by 8 x 8 transposes.
//
// A transpose in three rounds of two-register permutes (_mm512_permutex2var). Cell (a, c), in
// register a at column c before, is in register c at column a after; each round halves the
// columns a register holds and doubles its rows, so every register of a round draws on two of
// the round before. Where cell (a, c) is after round r (0: before):
constexpr int Register(int round, int a, int c) {
  switch (round) {
    case 0: return a;
    case 1: return (a >> 1) * 2 + (c >> 2);
    case 2: return (a >> 2) * 4 + (c >> 1);
    default: return c;
  }
}

constexpr int Column(int round, int a, int c) {
  switch (round) {
    case 0: return c;
    case 1: return (c & 3) * 2 + (a & 1);
    case 2: return (c & 1) * 4 + (a & 3);
    default: return a;
  }
}

// The two registers of round - 1 that register k of `round` draws on (side 0, then 1).
constexpr int Source(int round, int k, int side) {
  switch (round) {
    case 1: return (k >> 1) * 2 + side;
    case 2: return (k >> 2) * 4 + side * 2 + ((k & 3) >> 1);
    default: return side * 4 + (k >> 1);
  }
}

// Each round's permute indices, for registers of 8 * kUnits elements of type Index's size. A
// cell is kUnits of them, unit u of the cell at column c lying at element c + 8u: transposing
// bytes, a cell is eight bytes 8 apart (one per run); transposing 64-bit lanes, one lane.
template <typename Index, int kUnits>
struct Rounds {
  alignas(64) Index index[3][8][8 * kUnits];
};

template <typename Index, int kUnits>
Rounds<Index, kUnits> Build() {
  Rounds<Index, kUnits> t{};
  for (int r = 1; r <= 3; ++r) {
    for (int a = 0; a < 8; ++a) {
      for (int c = 0; c < 8; ++c) {
        const int k = Register(r, a, c);
        const int before = Register(r - 1, a, c);
        const int side = before == Source(r, k, 0) ? 0 : 1;
        assert(before == Source(r, k, side));
        for (int u = 0; u < kUnits; ++u) {
          t.index[r - 1][k][Column(r, a, c) + 8 * u] =
              static_cast<Index>(Column(r - 1, a, c) + 8 * u + side * 8 * kUnits);
        }
      }
    }
  }
  return t;
}

// Planes to runs: register a = plane b, column c = position t within a run, unit u = run l (the
// byte of element 8l + t). After: register t, byte 8l + b.
const Rounds<uint8_t, 8>& PlanesToRuns() {
  static const Rounds<uint8_t, 8> t = Build<uint8_t, 8>();
  return t;
}

// Runs to elements: register a = position t, column c = run l. After: register l, lane t, which
// is element 8l + t.
const Rounds<int64_t, 1>& RunsToElements() {
  static const Rounds<int64_t, 1> t = Build<int64_t, 1>();
  return t;
}

template <int kRound, bool kBytes, typename Index>
CR_AVX512 inline void Round(__m512i (&x)[8], const Index (&index)[8][64 / sizeof(Index)]) {
  __m512i y[8];
  for (int k = 0; k < 8; ++k) {
    const __m512i idx = _mm512_load_si512(index[k]);
    const __m512i a = x[Source(kRound, k, 0)];
    const __m512i b = x[Source(kRound, k, 1)];
    if constexpr (kBytes) {
      y[k] = _mm512_permutex2var_epi8(a, idx, b);
    } else {
      y[k] = _mm512_permutex2var_epi64(a, idx, b);
    }
  }
  for (int k = 0; k < 8; ++k) x[k] = y[k];
}

template <bool kBytes, typename Index, int kUnits>
CR_AVX512 inline void Transpose(__m512i (&x)[8], const Rounds<Index, kUnits>& t) {
  Round<1, kBytes>(x, t.index[0]);
  Round<2, kBytes>(x, t.index[1]);
  Round<3, kBytes>(x, t.index[2]);
}

// Lane l: the sum of lanes 0..l-1 of v.
CR_AVX512 inline __m512i ExclusiveSum(__m512i v) {
  const __m512i zero = _mm512_setzero_si512();
  __m512i s = _mm512_alignr_epi64(v, zero, 7);
  s = _mm512_add_epi64(s, _mm512_alignr_epi64(s, zero, 7));
  s = _mm512_add_epi64(s, _mm512_alignr_epi64(s, zero, 6));
  return _mm512_add_epi64(s, _mm512_alignr_epi64(s, zero, 4));
}

CR_AVX512 inline __m512i LastLane(__m512i v) {
  return _mm512_permutexvar_epi64(_mm512_set1_epi64(7), v);
}

// How far ahead of the group in each plane to prefetch. The raw planes are read straight from the
// image, usually past the caches; 512 bytes (8 groups) ahead took about 5% off a decode's CPU
// time, 256 and 1024 less.
constexpr size_t kPrefetch = 512;

template <Predictor P>
CR_AVX512 size_t Run(const uint8_t* const* planes, size_t count, uint8_t* out, uint64_t& p1,
                     uint64_t& p2) {
  const auto& toRuns = PlanesToRuns();
  const auto& toElements = RunsToElements();
  // x: the last element restored; d: the line's last slope, x minus the element before it.
  __m512i x = _mm512_set1_epi64(static_cast<long long>(p1));
  __m512i d = _mm512_set1_epi64(static_cast<long long>(p1 - p2));
  size_t i = 0;
  for (; i + 64 <= count; i += 64) {
    __m512i v[8];
    for (int b = 0; b < 8; ++b) {
      // As an integer: the address may lie past the plane (a prefetch never faults).
      const uintptr_t ahead = reinterpret_cast<uintptr_t>(planes[b]) + i + kPrefetch;
      _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
      v[b] = _mm512_loadu_si512(planes[b] + i);
    }
    Transpose<true>(v, toRuns);
    if constexpr (P != Predictor::kNone) {
      // Unzig: (z >> 1) ^ -(z & 1).
      for (int t = 0; t < 8; ++t) {
        v[t] = _mm512_xor_si512(_mm512_srli_epi64(v[t], 1),
                                _mm512_srai_epi64(_mm512_slli_epi64(v[t], 63), 63));
      }
      // Each run's own running sum, as if the run started from zero.
      for (int t = 1; t < 8; ++t) v[t] = _mm512_add_epi64(v[t], v[t - 1]);
      if constexpr (P == Predictor::kDelta) {
        // Run l starts from x plus the totals of the runs before it.
        const __m512i before = _mm512_add_epi64(x, ExclusiveSum(v[7]));
        for (int t = 0; t < 8; ++t) v[t] = _mm512_add_epi64(v[t], before);
      } else {
        // v holds the slopes' running sums; summed again, the values' (both from zero).
        const __m512i slopes = v[7];
        for (int t = 1; t < 8; ++t) v[t] = _mm512_add_epi64(v[t], v[t - 1]);
        // Run l starts with slope dBefore and value xBefore; its element t is
        // xBefore + (t + 1) * dBefore + v[t], and it ends at xBefore + 8 * dBefore + v[7].
        const __m512i dBefore = _mm512_add_epi64(d, ExclusiveSum(slopes));
        const __m512i ends = _mm512_add_epi64(_mm512_slli_epi64(dBefore, 3), v[7]);
        __m512i offset = _mm512_add_epi64(x, ExclusiveSum(ends));
        for (int t = 0; t < 8; ++t) {
          offset = _mm512_add_epi64(offset, dBefore);
          v[t] = _mm512_add_epi64(v[t], offset);
        }
        d = LastLane(_mm512_add_epi64(dBefore, slopes));
      }
      x = LastLane(v[7]);
    }
    Transpose<false>(v, toElements);
    for (int m = 0; m < 8; ++m) _mm512_storeu_si512(out + (i + 8 * m) * 8, v[m]);
  }
  if constexpr (P != Predictor::kNone) {
    // As InverseScalar leaves them: the delta predictor never reads p2.
    const auto last = static_cast<uint64_t>(_mm_cvtsi128_si64(_mm512_castsi512_si128(x)));
    p2 = last - static_cast<uint64_t>(_mm_cvtsi128_si64(_mm512_castsi512_si128(d)));
    p1 = last;
  }
  return i;
}

}  // namespace

size_t UnshuffleInverse8(const uint8_t* const* planes, size_t count, Predictor p, uint8_t* out,
                         uint64_t& p1, uint64_t& p2) {
  if (!CpuHasAvx512()) return 0;
  switch (p) {
    case Predictor::kNone: return Run<Predictor::kNone>(planes, count, out, p1, p2);
    case Predictor::kDelta: return Run<Predictor::kDelta>(planes, count, out, p1, p2);
    default: return Run<Predictor::kLine>(planes, count, out, p1, p2);
  }
}

#else

size_t UnshuffleInverse8(const uint8_t* const*, size_t, Predictor, uint8_t*, uint64_t&,
                         uint64_t&) {
  return 0;
}

#endif

}  // namespace cr
